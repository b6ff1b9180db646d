# Stand-in for gcr.io/distroless/static-debian12:nonroot: no shell, no package manager; only
# the CA bundle, time zones, /etc/passwd and /etc/group with the nonroot user (uid 65532),
# its home and a world-writable /tmp.
FROM regapi-standin/debian:bookworm AS files
RUN mkdir -p /out/etc/ssl/certs /out/usr/share /out/home/nonroot /out/tmp \
    && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
    && cp -a /usr/share/zoneinfo /out/usr/share/ \
    && printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >/out/etc/passwd \
    && printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >/out/etc/group \
    && chown 65532:65532 /out/home/nonroot && chmod 1777 /out/tmp

FROM scratch
COPY --from=files /out/ /
USER 65532:65532
WORKDIR /home/nonroot
LABEL regapi.standin="gcr.io/distroless/static-debian12:nonroot"

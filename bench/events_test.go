package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestEventReceiverChecksTheSignature(t *testing.T) {
	recv, secret := newEventReceiver()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) != 32 {
		t.Fatalf("secret %q: %v", secret, err)
	}
	body := `{"type":"user.created","timestamp":"2026-12-01T00:00:00Z","data":{"id":"a"}}`
	post := func(id, sig string) int {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", "1700000000")
		req.Header.Set("webhook-signature", sig)
		w := httptest.NewRecorder()
		recv.ServeHTTP(w, req)
		return w.Code
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("msg_1.1700000000." + body))
	good := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := post("msg_1", "v1,bm90IGl0 "+good); got != http.StatusNoContent {
		t.Errorf("signed event: status %d, want 204", got)
	}
	if got := post("msg_2", good); got != http.StatusUnauthorized {
		t.Errorf("signature of another id: status %d, want 401", got)
	}
	post("msg_1", good)
	if seen, ok := recv.first("msg_1"); !ok || seen.typ != "user.created" {
		t.Errorf("first(msg_1) = %+v, %v", seen, ok)
	}
	if repeats, bad, peak := recv.counts(); repeats != 1 || bad != 1 || peak != 1 {
		t.Errorf("repeats, bad signatures, peak = %d, %d, %d; want 1, 1, 1", repeats, bad, peak)
	}
}

func TestRecorderFilesClassesApart(t *testing.T) {
	now := time.Now()
	rec := newRecorder(now.Add(-time.Second), now.Add(time.Second))
	rec.add(attempt{status: 202, ok: true, class: classResetKnown, done: now}, 3*time.Millisecond)
	rec.add(attempt{status: 202, ok: true, class: classResetUnknown, done: now}, 2*time.Millisecond)
	rec.add(attempt{status: 202, ok: true, class: classResetUnknown, done: now}, 4*time.Millisecond)
	if len(rec.okLat) != 3 || len(rec.sub) != 2 || len(rec.sub[classResetKnown].okLat) != 1 ||
		rec.sub[classResetUnknown].statuses["202"] != 2 {
		t.Errorf("okLat %v, sub %v", rec.okLat, rec.sub)
	}
}

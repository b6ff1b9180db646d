# The README walkthrough's building blocks, shared by scripts/smoke.sh and
# scripts/docker-e2e.sh (sourced, not run). The caller defines:
#   api          base URL of the API, e.g. http://127.0.0.1:8080
#   mailpit_url  base URL of Mailpit's web/API port
#   work         a scratch directory
#   fail MSG     reports a failure and does not return

# request METHOD PATH [BODY] [USER:PASSWORD] sets $status, $body and $headers.
request() {
  local args=(-sS -X "$1" -o "$work/body" -D "$work/headers" -w '%{http_code}')
  [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  [ -n "${4:-}" ] && args+=(-u "$4")
  status=$(curl "${args[@]}" "$api$2") || fail "$1 $2: curl failed"
  body=$(cat "$work/body")
  headers=$(cat "$work/headers")
}

expect() { # expect STATUS WHAT
  [ "$status" = "$1" ] || fail "$2: status $status, want $1: $body"
}

expect_json() { # expect_json '"key":"value"' WHAT: the compact JSON body contains the pair
  tr -d ' \n' <<<"$body" | grep -F -- "$1" >/dev/null || fail "$2: body lacks $1: $body"
}

# wait_for tries the command "$@" every 0.2 s for up to $timeout seconds.
wait_for() {
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# message_id EMAIL prints the ID of the newest message to EMAIL in Mailpit, if any. The list
# holds one object per message, each starting {"ID":"...": put each on a line of its own and
# pick the one addressed to EMAIL.
message_id() {
  curl -fsS "$mailpit_url/api/v1/messages?limit=200" | sed 's/{"ID":"/\n&/g' |
    grep -F "\"Address\":\"$1\"" | head -n 1 | sed -n 's/^{"ID":"\([^"]*\)".*/\1/p'
}

# wait_for_email EMAIL SECONDS [AFTER_ID] waits up to SECONDS for an email to EMAIL in Mailpit
# whose ID is not AFTER_ID (the newest one before the request that sends it, see message_id),
# then sets $subject and $text to its Subject and Text part, JSON escapes turned into spaces
# (\u0026 and the like contain digits).
wait_for_email() {
  local id="" deadline=$((SECONDS + $2)) message
  until id=$(message_id "$1") && [ -n "$id" ] && [ "$id" != "${3:-}" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "no new email to $1 in Mailpit within $2 s"
    sleep 0.2
  done
  message=$(curl -fsS "$mailpit_url/api/v1/message/$id")
  subject=$(printf '%s' "$message" | sed -n 's/.*"Subject":"\(\([^"\\]\|\\.\)*\)".*/\1/p')
  text=$(printf '%s' "$message" | sed -n 's/.*"Text":"\(\([^"\\]\|\\.\)*\)".*/\1/p' |
    sed 's/\\u[0-9a-fA-F]\{4\}/ /g; s/\\[nrt"\\/]/ /g')
}

# standalone_codes prints the standalone 4-digit numbers of $text, one a line.
standalone_codes() {
  printf '%s\n' "$text" | tr -c '0-9' '\n' | grep -xE '[0-9]{4}' || true
}

# wait_for_code EMAIL SECONDS [AFTER_ID] sets $code to the 4-digit code of the email to EMAIL
# (one newer than AFTER_ID, when given), waiting up to SECONDS for it to arrive. The code is
# the one standalone 4-digit number of the Text part.
wait_for_code() {
  local codes
  wait_for_email "$@"
  codes=$(standalone_codes)
  [ "$(printf '%s\n' "$codes" | grep -c .)" = 1 ] ||
    fail "want exactly one standalone 4-digit number in the email text, found: ${codes:-none}: $text"
  code="$codes"
}

# wait_for_notice EMAIL SECONDS AFTER_ID waits as wait_for_email does for a notice: an email
# that carries no code.
wait_for_notice() {
  wait_for_email "$@"
  [ -z "$(standalone_codes)" ] || fail "a notice to $1 carries a 4-digit number: $subject: $text"
}

# register EMAIL PASSWORD: POST /v1/users answers 201 with a pending user.
register() {
  request POST /v1/users "{\"email\":\"$1\",\"password\":\"$2\"}"
  expect 201 "register $1"
  expect_json '"status":"pending"' "register $1"
  grep -qi '^location: */v1/users/me' <<<"$headers" || fail "register: no Location: /v1/users/me"
}

# activate EMAIL PASSWORD CODE: the activation answers 200 with an active user.
activate() {
  request POST /v1/users/me/activate "{\"code\":\"$3\"}" "$1:$2"
  expect 200 "activate $1"
  expect_json '"status":"active"' "activate $1"
}

# expect_active EMAIL PASSWORD: GET /v1/users/me answers 200 with EMAIL, active.
expect_active() {
  request GET /v1/users/me "" "$1:$2"
  expect 200 "GET /v1/users/me as $1"
  expect_json '"status":"active"' "GET /v1/users/me as $1"
  expect_json "\"email\":\"$1\"" "GET /v1/users/me as $1"
}

# forgot_password EMAIL PASSWORD NEW_PASSWORD: the README's "forgot your password?" steps. The
# reset request answers an unknown address exactly as EMAIL; the code from Mailpit sets
# NEW_PASSWORD, after which PASSWORD fails and a notice without a code arrives.
forgot_password() {
  local last known
  last=$(message_id "$1")
  request POST /v1/password-resets "{\"email\":\"$1\"}"
  expect 202 "POST /v1/password-resets (known address)"
  expect_json '"expires_in_seconds":' "POST /v1/password-resets (known address)"
  known="$body"
  request POST /v1/password-resets "{\"email\":\"nobody-$$-$RANDOM@example.com\"}"
  expect 202 "POST /v1/password-resets (unknown address)"
  [ "$body" = "$known" ] || fail "reset answers differ: known $known, unknown $body"
  wait_for_code "$1" 30 "$last"
  last=$(message_id "$1")
  request POST /v1/password-resets/confirm \
    "{\"email\":\"$1\",\"code\":\"$code\",\"password\":\"$3\"}"
  expect 200 "POST /v1/password-resets/confirm"
  expect_json '"status":"active"' "POST /v1/password-resets/confirm"
  request GET /v1/users/me "" "$1:$2"
  expect 401 "GET /v1/users/me with the password before the reset"
  expect_active "$1" "$3"
  wait_for_notice "$1" 30 "$last"
}

# change_address EMAIL PASSWORD NEW_EMAIL: the README's "change address" steps. The code goes
# to NEW_EMAIL while EMAIL still signs in; once confirmed, NEW_EMAIL signs in, EMAIL fails,
# and EMAIL gets a notice naming NEW_EMAIL with its local part masked.
change_address() {
  local last masked
  last=$(message_id "$1")
  request POST /v1/users/me/email "{\"email\":\"$3\"}" "$1:$2"
  expect 202 "POST /v1/users/me/email"
  expect_json '"expires_in_seconds":' "POST /v1/users/me/email"
  expect_active "$1" "$2"
  wait_for_code "$3" 30
  request POST /v1/users/me/email/confirm "{\"code\":\"$code\"}" "$1:$2"
  expect 200 "POST /v1/users/me/email/confirm"
  expect_json "\"email\":\"$3\"" "POST /v1/users/me/email/confirm"
  request GET /v1/users/me "" "$1:$2"
  expect 401 "GET /v1/users/me with the old address"
  expect_active "$3" "$2"
  wait_for_notice "$1" 30 "$last"
  masked="${3:0:1}***@${3#*@}"
  grep -qF -- "$masked" <<<"$text" || fail "the notice to the old address does not name $masked: $text"
}

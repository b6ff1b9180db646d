package postgres_test

import (
	"context"
	"testing"

	"github.com/regapi/regapi/internal/registration"
	"github.com/regapi/regapi/internal/registration/registrationtest"
)

// Rotating CODE_SECRET (the old one moving to CODE_SECRET_PREVIOUS) strands neither a code
// issued before nor the email queued to carry it; what is issued after uses the new secret.
func TestRotationKeepsCodesAndQueuedEmails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, defaultPolicy)
	ctx := context.Background()
	old := randomSecret()
	before, err := registration.NewCodeKeys(old, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, err := registration.NewCodeKeys(randomSecret(), [][]byte{old})
	if err != nil {
		t.Fatal(err)
	}
	svcBefore := e.service(t, before)
	u, err := svcBefore.Register(ctx, "rotate@example.com", "correct horse battery", registration.English)
	if err != nil {
		t.Fatal(err)
	}
	svcAfter := e.service(t, after)
	// The email queued before the rotation opens under the rotated keys, by its key id.
	var sealed, keyID []byte
	if err := e.pool.QueryRow(ctx, `SELECT payload, key_id FROM outbox WHERE recipient = $1`, u.Email).Scan(&sealed, &keyID); err != nil {
		t.Fatal(err)
	}
	msg, err := after.Open(sealed, keyID)
	if err != nil {
		t.Fatalf("queued email after the rotation: %v", err)
	}
	e.deliverAll(t) // MarkSent needs no key: it starts the code's lifetime
	if _, err := svcAfter.Activate(ctx, u, msg.Code); err != nil {
		t.Fatalf("code issued before the rotation: %v", err)
	}
	// A code issued after the rotation is sealed under the new secret.
	v, err := svcAfter.Register(ctx, "rotated@example.com", "correct horse battery", registration.English)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(ctx, `SELECT payload, key_id FROM outbox WHERE recipient = $1`, v.Email).Scan(&sealed, &keyID); err != nil {
		t.Fatal(err)
	}
	if string(keyID) != string(after.ID()) {
		t.Fatalf("new email sealed under key %x, want the current %x", keyID, after.ID())
	}
	if _, err := before.Open(sealed, keyID); err == nil {
		t.Fatal("the retired secret opens an email sealed after the rotation")
	}
}

// service returns a service on e's accounts with keys.
func (e *env) service(t *testing.T, keys *registration.CodeKeys) *registration.Service {
	t.Helper()
	svc, err := registration.NewService(context.Background(), e.accounts, registrationtest.Hasher{}, keys, defaultPolicy, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

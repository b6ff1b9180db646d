package mail

import "testing"

// TestWebhookSignatureMatchesPublishedVector signs the test vector that the Standard
// Webhooks libraries share (the Go, Python, PHP, C# and Java suites all check it).
func TestWebhookSignatureMatchesPublishedVector(t *testing.T) {
	t.Parallel()
	p, err := NewWebhookProvider("https://hooks.example.com/", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := "v1," + sign(p.(*webhookProvider).key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

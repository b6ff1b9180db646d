package registration

import "context"

// Receipt lets the caller of a Service method record, in the transaction of the request's
// effect, the answer it gives, so that a retry of the same request is answered from the
// record and changes nothing (the API's Idempotency-Key). The domain keeps the answer as the
// caller encodes it; it only decides when a request took effect.
type Receipt struct {
	// Scope, Endpoint and Key name the request: who asked (an account id, or "" for an
	// unauthenticated request), what, and under which key.
	Scope, Endpoint, Key string
	// Answer encodes the caller's answer to a request that ended with result (the method's
	// result: a User, or how long a code is valid) or err (an outcome that was saved, such as
	// a counted wrong code).
	Answer func(result any, err error) []byte
}

// ReceiptRecorded: the request Receipt names took effect, and was answered Answer.
type ReceiptRecorded struct {
	Scope, Endpoint, Key string
	Answer               []byte
}

func (ReceiptRecorded) change() {}

type receiptKey struct{}

// WithReceipt returns ctx carrying r: the Service methods called with it record their answer
// with their effect.
func WithReceipt(ctx context.Context, r *Receipt) context.Context {
	return context.WithValue(ctx, receiptKey{}, r)
}

// record records on a the answer to the request in ctx, if it carries a Receipt, as ended
// with result or err.
func record(ctx context.Context, a *Address, result any, err error) {
	r, ok := ctx.Value(receiptKey{}).(*Receipt)
	if !ok || r == nil {
		return
	}
	a.changes = append(a.changes, ReceiptRecorded{Scope: r.Scope, Endpoint: r.Endpoint, Key: r.Key, Answer: r.Answer(result, err)})
}

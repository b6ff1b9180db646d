package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/regapi/regapi/internal/postgres"
	"github.com/regapi/regapi/internal/postgres/pgtest"
	"github.com/regapi/regapi/internal/registration"
	"github.com/regapi/regapi/internal/registration/registrationtest"
)

// BenchmarkRegister registers new addresses one after another through the accounts store,
// with a password hash that costs nothing: what it measures is the store's transaction.
func BenchmarkRegister(b *testing.B) {
	pool := benchPool(b, pgtest.NewDatabase(b), nil)
	keys, err := registration.NewCodeKeys(randomSecret(), nil)
	if err != nil {
		b.Fatal(err)
	}
	c := registrationtest.NewClock()
	svc, err := registration.NewService(context.Background(), postgres.NewAccountStore(pool, nil), registrationtest.Hasher{}, keys, defaultPolicy, c.Now)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := svc.Register(context.Background(), fmt.Sprintf("bench-%d@example.com", i), "correct horse battery", registration.English); err != nil {
			b.Fatal(err)
		}
	}
}

package registration_test

import (
	"testing"

	"github.com/regapi/regapi/internal/registration/registrationtest"
)

// The domain's rules over the in-memory store: the store contract, in milliseconds.
func TestMemoryStoreContract(t *testing.T) {
	t.Parallel()
	registrationtest.RunStoreContract(t, registrationtest.Memory)
}

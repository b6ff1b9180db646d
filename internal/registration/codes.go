package registration

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// SecretSize is the size in bytes of the deployment secret behind activation codes.
const SecretSize = 32

// sealContext binds sealed payloads to their purpose, so they cannot be replayed elsewhere.
const sealContext = "regapi activation email v1"

// CodeKeys issues activation codes and keeps them unreadable at rest: codes are stored as an
// HMAC-SHA256 keyed hash, and the outgoing email that must carry the digits is sealed with
// AES-256-GCM. Both keys are derived from one deployment secret with HKDF, so a copy of the
// database without the secret reveals no usable code.
type CodeKeys struct {
	macKey []byte
	aead   cipher.AEAD
	id     []byte
}

// NewCodeKeys derives the code keys from secret, which must be SecretSize random bytes.
func NewCodeKeys(secret []byte) (*CodeKeys, error) {
	if len(secret) != SecretSize {
		return nil, fmt.Errorf("code secret: want %d bytes, got %d", SecretSize, len(secret))
	}
	macKey, err := hkdf.Key(sha256.New, secret, nil, "regapi code hash", 32)
	if err != nil {
		return nil, fmt.Errorf("derive code hash key: %w", err)
	}
	id, err := hkdf.Key(sha256.New, secret, nil, "regapi key id", 8)
	if err != nil {
		return nil, fmt.Errorf("derive key id: %w", err)
	}
	sealKey, err := hkdf.Key(sha256.New, secret, nil, "regapi outbox seal", 32)
	if err != nil {
		return nil, fmt.Errorf("derive seal key: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("seal cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal cipher: %w", err)
	}
	return &CodeKeys{macKey: macKey, aead: aead, id: id}, nil
}

// ID returns a public fingerprint of the secret, stored with each sealed email so that a
// process only claims the emails it can open: one started without CODE_SECRET (a random
// secret) must not take, and give up on, emails sealed by its siblings.
func (k *CodeKeys) ID() []byte { return k.id }

var codeSpace = big.NewInt(10000)

// NewCode returns a fresh code, uniform over 0000–9999, from the system's secure random source.
func (k *CodeKeys) NewCode() (string, error) {
	n, err := rand.Int(rand.Reader, codeSpace)
	if err != nil {
		return "", fmt.Errorf("generate code: %w", err)
	}
	return fmt.Sprintf("%04d", n.Int64()), nil
}

// Hash returns the keyed hash of code as issued to email, the only form a code is stored in.
func (k *CodeKeys) Hash(email, code string) []byte {
	mac := hmac.New(sha256.New, k.macKey)
	mac.Write([]byte(email))
	mac.Write([]byte{0})
	mac.Write([]byte(code))
	return mac.Sum(nil)
}

// Matches reports, in constant time, whether code issued to email has the stored hash.
func (k *CodeKeys) Matches(hash []byte, email, code string) bool {
	return hmac.Equal(hash, k.Hash(email, code))
}

// Seal encrypts an activation email for the outbox.
func (k *CodeKeys) Seal(e ActivationEmail) ([]byte, error) {
	plain, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("seal activation email: %w", err)
	}
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal activation email: %w", err)
	}
	return k.aead.Seal(nonce, nonce, plain, []byte(sealContext)), nil
}

// ErrUnsealable is returned by Open for a payload sealed under another secret, or damaged.
var ErrUnsealable = errors.New("sealed email cannot be opened (damaged, or sealed under another CODE_SECRET)")

// Open decrypts an activation email sealed by Seal under the same secret.
func (k *CodeKeys) Open(sealed []byte) (ActivationEmail, error) {
	var e ActivationEmail
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return e, ErrUnsealable
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(sealContext))
	if err != nil {
		return e, ErrUnsealable
	}
	if err := json.Unmarshal(plain, &e); err != nil {
		return e, fmt.Errorf("%w: %v", ErrUnsealable, err)
	}
	return e, nil
}

package registration

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// SecretSize is the size in bytes of a deployment secret behind activation codes.
const SecretSize = 32

// sealContext binds sealed payloads to their purpose, so they cannot be replayed elsewhere.
const sealContext = "regapi activation email v1" // kept: emails sealed under it stay readable

// CodeKeys issues activation codes and keeps them unreadable at rest: codes are stored as an
// HMAC-SHA256 keyed hash, and the outgoing email that must carry the digits is sealed with
// AES-256-GCM. Both keys are derived from a deployment secret with HKDF, so a copy of the
// database without the secret reveals no usable code.
//
// It holds the current secret, which issues and seals everything new, and any retired ones,
// which still verify the codes and open the emails made under them, so that a secret can be
// rotated without losing a code in its minute or a queued email.
type CodeKeys struct {
	keys []codeKey // the current secret's first
}

// codeKey is what one secret keys.
type codeKey struct {
	id     []byte
	macKey []byte
	aead   cipher.AEAD
}

// NewCodeKeys derives the code keys from current and the retired secrets previous, each
// SecretSize bytes. Empty entries of previous and repeats of a secret are ignored. It returns
// an error naming the first secret of another size.
func NewCodeKeys(current []byte, previous [][]byte) (*CodeKeys, error) {
	k := &CodeKeys{}
	for i, s := range append([][]byte{current}, previous...) {
		if i > 0 && len(s) == 0 {
			continue
		}
		key, err := deriveKey(s)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("current code secret: %w", err)
			}
			return nil, fmt.Errorf("previous code secret %d: %w", i, err)
		}
		if k.find(key.id) == nil {
			k.keys = append(k.keys, key)
		}
	}
	return k, nil
}

// deriveKey derives the keys of one secret.
func deriveKey(secret []byte) (codeKey, error) {
	if len(secret) != SecretSize {
		return codeKey{}, fmt.Errorf("want %d bytes, got %d", SecretSize, len(secret))
	}
	macKey, err := hkdf.Key(sha256.New, secret, nil, "regapi code hash", 32)
	if err != nil {
		return codeKey{}, fmt.Errorf("derive code hash key: %w", err)
	}
	id, err := hkdf.Key(sha256.New, secret, nil, "regapi key id", 8)
	if err != nil {
		return codeKey{}, fmt.Errorf("derive key id: %w", err)
	}
	sealKey, err := hkdf.Key(sha256.New, secret, nil, "regapi outbox seal", 32)
	if err != nil {
		return codeKey{}, fmt.Errorf("derive seal key: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return codeKey{}, fmt.Errorf("seal cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return codeKey{}, fmt.Errorf("seal cipher: %w", err)
	}
	return codeKey{id: id, macKey: macKey, aead: aead}, nil
}

// find returns the key whose public id is id, or nil.
func (k *CodeKeys) find(id []byte) *codeKey {
	for i := range k.keys {
		if bytes.Equal(k.keys[i].id, id) {
			return &k.keys[i]
		}
	}
	return nil
}

// IDs returns the public fingerprints of the secrets, the current one first. Each sealed email
// is stored with the fingerprint of its secret, so that a process claims only the emails it
// can open: one started without CODE_SECRET (a random secret) must not take, and give up on,
// emails sealed by its siblings.
func (k *CodeKeys) IDs() [][]byte {
	ids := make([][]byte, len(k.keys))
	for i, key := range k.keys {
		ids[i] = key.id
	}
	return ids
}

// ID returns the fingerprint of the current secret, the one new emails are sealed under.
func (k *CodeKeys) ID() []byte { return k.keys[0].id }

var codeSpace = big.NewInt(10000)

// NewCode returns a fresh code, uniform over 0000–9999, from the system's secure random source.
func (k *CodeKeys) NewCode() (string, error) {
	n, err := rand.Int(rand.Reader, codeSpace)
	if err != nil {
		return "", fmt.Errorf("generate code: %w", err)
	}
	return fmt.Sprintf("%04d", n.Int64()), nil
}

// Hash returns the keyed hash, under the current secret, of code as issued to email: the only
// form a code is stored in.
func (k *CodeKeys) Hash(email, code string) []byte { return k.keys[0].hash(email, code) }

func (key *codeKey) hash(email, code string) []byte {
	mac := hmac.New(sha256.New, key.macKey)
	mac.Write([]byte(email))
	mac.Write([]byte{0})
	mac.Write([]byte(code))
	return mac.Sum(nil)
}

// Matches reports whether code issued to email has the stored hash under any of the secrets.
// Every secret is tried, each comparison in constant time, so the answer takes as long
// whichever secret (if any) made the hash.
func (k *CodeKeys) Matches(hash []byte, email, code string) bool {
	match := 0
	for i := range k.keys {
		match |= subtle.ConstantTimeCompare(hash, k.keys[i].hash(email, code))
	}
	return match == 1
}

// Seal encrypts an email for the outbox under the current secret, whose fingerprint is ID().
func (k *CodeKeys) Seal(e Email) ([]byte, error) {
	plain, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("seal email: %w", err)
	}
	aead := k.keys[0].aead
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal email: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, []byte(sealContext)), nil
}

// ErrUnsealable is returned by Open for a payload sealed under a secret it does not hold, or
// damaged.
var ErrUnsealable = errors.New("sealed email cannot be opened (damaged, or sealed under another CODE_SECRET)")

// Open decrypts an email that Seal sealed under the secret whose fingerprint is keyID,
// current or previous. It returns ErrUnsealable when no secret has that fingerprint or the
// payload does not open under it.
func (k *CodeKeys) Open(sealed, keyID []byte) (Email, error) {
	var e Email
	key := k.find(keyID)
	if key == nil {
		return e, ErrUnsealable
	}
	n := key.aead.NonceSize()
	if len(sealed) < n {
		return e, ErrUnsealable
	}
	plain, err := key.aead.Open(nil, sealed[:n], sealed[n:], []byte(sealContext))
	if err != nil {
		return e, ErrUnsealable
	}
	if err := json.Unmarshal(plain, &e); err != nil {
		return e, fmt.Errorf("%w: %v", ErrUnsealable, err)
	}
	if e.Kind == "" {
		e.Kind = EmailActivationCode // sealed before there were other kinds
	}
	return e, nil
}

package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Bounds on the parameters a hasher accepts, from its configuration or from a stored hash.
// They match what regapi's configuration allows; anything beyond them in a stored hash is a
// corrupted row, and hashing with it could exhaust memory or hang a request.
const (
	MinMemoryKiB  = 8
	MaxMemoryKiB  = 4 << 20 // 4 GiB
	MaxIterations = 100
	minSaltLen    = 8
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 64
)

// ErrMalformedHash is returned by Verify for a stored string that is not an argon2id PHC
// string this package can check, or whose parameters are out of bounds.
var ErrMalformedHash = errors.New("malformed password hash")

// ErrInvalidParams is returned for cost parameters out of bounds.
var ErrInvalidParams = errors.New("invalid argon2id parameters")

// Params is the cost of one argon2id hash.
type Params struct {
	MemoryKiB   uint32 // memory per hash, in KiB
	Iterations  uint32 // passes over that memory
	Parallelism uint8  // lanes, each hashed by its own goroutine
}

// DefaultParams is OWASP's recommended argon2id cost: 19 MiB of memory, 2 iterations, 1 lane.
var DefaultParams = Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}

// Validate returns an error wrapping ErrInvalidParams when p is outside the bounds above.
func (p Params) Validate() error {
	switch {
	case p.MemoryKiB < MinMemoryKiB || p.MemoryKiB > MaxMemoryKiB:
		return fmt.Errorf("%w: memory %d KiB not in [%d, %d]", ErrInvalidParams, p.MemoryKiB, MinMemoryKiB, MaxMemoryKiB)
	case p.Iterations < 1 || p.Iterations > MaxIterations:
		return fmt.Errorf("%w: iterations %d not in [1, %d]", ErrInvalidParams, p.Iterations, MaxIterations)
	case p.Parallelism < 1:
		return fmt.Errorf("%w: parallelism must be at least 1", ErrInvalidParams)
	}
	return nil
}

func (p Params) key(password, salt []byte, keyLen int) []byte {
	// #nosec G115 -- keyLen is a decoded key's length, checked against maxKeyLen, or the fixed default.
	return argon2.IDKey(password, salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(keyLen))
}

// b64 is the PHC string encoding: standard alphabet, no padding.
var b64 = base64.RawStdEncoding.Strict()

// encode returns the PHC string $argon2id$v=19$m=…,t=…,p=…$<salt>$<key>.
func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses a PHC string made by encode, refusing anything else with ErrMalformedHash.
func decode(s string) (p Params, salt, key []byte, err error) {
	fields := strings.Split(s, "$")
	if len(fields) != 6 || fields[0] != "" || fields[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: not an argon2id PHC string", ErrMalformedHash)
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, fields[2])
	}
	if p, err = parseParams(fields[3]); err != nil {
		return p, nil, nil, err
	}
	salt, err = b64.DecodeString(fields[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return p, nil, nil, fmt.Errorf("%w: bad salt", ErrMalformedHash)
	}
	key, err = b64.DecodeString(fields[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return p, nil, nil, fmt.Errorf("%w: bad key", ErrMalformedHash)
	}
	return p, salt, key, nil
}

// parseParams reads "m=19456,t=2,p=1", in that order, as PHC strings write it.
func parseParams(s string) (Params, error) {
	var values [3]uint64
	parts := strings.Split(s, ",")
	if len(parts) != len(values) {
		return Params{}, fmt.Errorf("%w: want m=,t=,p= parameters", ErrMalformedHash)
	}
	for i, name := range []string{"m=", "t=", "p="} {
		digits, ok := strings.CutPrefix(parts[i], name)
		v, err := strconv.ParseUint(digits, 10, 32)
		if !ok || err != nil || digits != strconv.FormatUint(v, 10) {
			return Params{}, fmt.Errorf("%w: bad parameter %q", ErrMalformedHash, parts[i])
		}
		values[i] = v
	}
	if values[2] > 255 {
		return Params{}, fmt.Errorf("%w: parallelism %d out of range", ErrMalformedHash, values[2])
	}
	// #nosec G115 -- ParseUint above limits every value to 32 bits, and parallelism to 255.
	p := Params{MemoryKiB: uint32(values[0]), Iterations: uint32(values[1]), Parallelism: uint8(values[2])}
	if err := p.Validate(); err != nil {
		return Params{}, fmt.Errorf("%w: %v", ErrMalformedHash, err)
	}
	return p, nil
}

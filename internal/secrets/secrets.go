// Package secrets seals the values of NoEcho parameters so that they never appear in clear in
// the state, in plan files or in any output: everywhere but the call that deploys them, a secret
// is "sealed:v1:…", AES-256-GCM under a key kept outside the state database.
//
// Sealing is deterministic (the nonce is derived from the value with HMAC, a synthetic IV): the
// same secret seals to the same text, so that plans compare sealed parameters and see no
// change where there is none, while the text reveals nothing of the value without the key.
// Dynamic references ({{resolve:ssm-secure:…}}, {{resolve:secretsmanager:…}}) are not secrets
// themselves and pass through untouched.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Prefix starts every sealed value.
const Prefix = "sealed:v1:"

// EnvKey names the environment variable that may hold the key (32 bytes, base64); it takes
// precedence over the key file.
const EnvKey = "STACKFLEET_SECRET_KEY"

// KeyFile is the key file's name in the state directory, readable by its owner only.
const KeyFile = "secret.key"

// Box seals and opens values under one key.
type Box struct {
	aead cipher.AEAD
	mac  []byte
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key: %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	// The nonce key is derived from the key, so that one secret serves both.
	m := hmac.New(sha256.New, key)
	m.Write([]byte("stackfleet nonce key"))
	return &Box{aead: aead, mac: m.Sum(nil)}, nil
}

// Load returns the Box of $STACKFLEET_SECRET_KEY, else of dir/secret.key, creating that file
// (mode 0600) with a random key when it does not exist yet.
func Load(dir string) (*Box, error) {
	if v := os.Getenv(EnvKey); v != "" {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%s: not base64: %w", EnvKey, err)
		}
		b, err := New(key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKey, err)
		}
		return b, nil
	}
	path := filepath.Join(dir, KeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("secret key %s: not base64: %w", path, err)
	}
	b, err := New(key)
	if err != nil {
		return nil, fmt.Errorf("secret key %s: %w", path, err)
	}
	return b, nil
}

// create writes a new random key to path, unless another process just did (then that one is
// read).
func create(path string) (*Box, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return Load(filepath.Dir(path))
	}
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("secret key %s: %w", path, err)
	}
	return New(key)
}

// Passthrough reports whether v is left as it is by Seal: already sealed, or a dynamic
// reference that CloudFormation resolves.
func Passthrough(v string) bool {
	return strings.HasPrefix(v, Prefix) || strings.HasPrefix(strings.TrimSpace(v), "{{resolve:")
}

// Seal returns the sealed form of v (v itself when Passthrough).
func (b *Box) Seal(v string) string {
	if Passthrough(v) {
		return v
	}
	m := hmac.New(sha256.New, b.mac)
	m.Write([]byte(v))
	nonce := m.Sum(nil)[:b.aead.NonceSize()]
	out := b.aead.Seal(nonce[:len(nonce):len(nonce)], nonce, []byte(v), nil)
	return Prefix + base64.RawStdEncoding.EncodeToString(out)
}

// Open returns the value v seals (v itself when it is not sealed).
func (b *Box) Open(v string) (string, error) {
	if !strings.HasPrefix(v, Prefix) {
		return v, nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(v, Prefix))
	n := b.aead.NonceSize()
	if err != nil || len(raw) < n {
		return "", errors.New("a sealed parameter value is malformed")
	}
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return "", fmt.Errorf("a parameter value was sealed with another key (set %s, or restore %s)", EnvKey, KeyFile)
	}
	return string(plain), nil
}

// OpenAll returns params with every sealed value opened; params itself is not changed.
func (b *Box) OpenAll(params map[string]string) (map[string]string, error) {
	var out map[string]string
	for k, v := range params {
		if !strings.HasPrefix(v, Prefix) {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(params))
			for k2, v2 := range params {
				out[k2] = v2
			}
		}
		plain, err := b.Open(v)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %w", k, err)
		}
		out[k] = plain
	}
	if out == nil {
		return params, nil
	}
	return out, nil
}

// Sealed reports whether any value of params is sealed.
func Sealed(params map[string]string) bool {
	for _, v := range params {
		if strings.HasPrefix(v, Prefix) {
			return true
		}
	}
	return false
}

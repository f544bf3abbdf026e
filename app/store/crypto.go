package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// KeyFile holds the AES-256 key that seals secrets at rest. Losing it makes
// the stored tokens unreadable (they can be entered again), so backups
// must include it.
const KeyFile = "secret.key"

const sealPrefix = "v1:"

// Sealer encrypts secrets with AES-GCM.
type Sealer struct{ aead cipher.AEAD }

// LoadOrCreateKey reads the key file, creating it with mode 0600 on first start.
func LoadOrCreateKey(path string) (*Sealer, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generate secret key: %w", err)
		}
		enc := base64.StdEncoding.EncodeToString(key) + "\n"
		// O_EXCL: two processes starting at once must not overwrite each other's key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return LoadOrCreateKey(path)
			}
			return nil, fmt.Errorf("create secret key %s: %w", path, err)
		}
		if _, err := f.WriteString(enc); err != nil {
			f.Close()
			return nil, fmt.Errorf("write secret key %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("write secret key %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("write secret key %s: %w", path, err)
		}
		return newSealer(key)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret key %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret key %s has mode %v: it must not be readable by group or others (chmod 600)", path, fi.Mode().Perm())
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("secret key %s is not 32 base64-encoded bytes", path)
	}
	return newSealer(key)
}

func newSealer(key []byte) (*Sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain; the empty string stays empty so "not set" is visible.
// additional binds the ciphertext to its place (a column and row), so a
// sealed value copied elsewhere in the database does not decrypt.
func (s *Sealer) Seal(plain, additional string) (string, error) {
	if plain == "" {
		return "", nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(plain), []byte(additional))
	return sealPrefix + base64.StdEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal.
func (s *Sealer) Open(sealed, additional string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	if !strings.HasPrefix(sealed, sealPrefix) {
		return "", errors.New("open secret: unknown format")
	}
	raw, err := base64.StdEncoding.DecodeString(sealed[len(sealPrefix):])
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", errors.New("open secret: corrupt value")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(additional))
	if err != nil {
		return "", errors.New("open secret: wrong key or corrupt value")
	}
	return string(plain), nil
}

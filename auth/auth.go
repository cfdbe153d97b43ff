// Package auth issues and checks API tokens and defines the roles that routes require.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/valid"
)

// Role is what a token may do. Each role includes the ones below it.
type Role string

// Roles, from most to least powerful.
const (
	// Admin configures tasks, connectors, credentials and tokens, and reads the audit trail.
	Admin Role = "admin"
	// Operator triggers runs and maps records, and reads everything an operator needs.
	Operator Role = "operator"
	// Viewer reads configuration and run history.
	Viewer Role = "viewer"
	// Public marks routes that need no token (health and readiness).
	Public Role = ""
)

var rank = map[Role]int{Public: 0, Viewer: 1, Operator: 2, Admin: 3}

// Roles lists the roles a token can have.
var Roles = []Role{Admin, Operator, Viewer}

// Allows reports whether a token of role r may use a route that requires need.
func (r Role) Allows(need Role) bool { return rank[r] >= rank[need] }

// touchInterval is how often a token's last_used_at is written at most.
const touchInterval = time.Minute

// tokenPrefix starts every token, so that leaked tokens are easy to find with secret scanners.
const tokenPrefix = "trb_"

var (
	// ErrNoToken means the request carried no bearer token.
	ErrNoToken = errors.New("no bearer token")
	// ErrBadToken means the token is malformed, unknown, expired or revoked. The reason is
	// not told to the client.
	ErrBadToken = errors.New("invalid token")
)

// Principal is the authenticated caller.
type Principal struct {
	TokenID uuid.UUID
	Name    string
	Role    Role
}

// Tokens issues and checks tokens.
type Tokens struct {
	store *store.Store
	now   func() time.Time
}

// NewTokens returns a token service over s.
func NewTokens(s *store.Store) *Tokens { return &Tokens{store: s, now: time.Now} }

// CreateOptions describes a new token.
type CreateOptions struct {
	// Name says whose or what the token is, e.g. "ci-pipeline". Required.
	Name string `json:"name" validate:"required,max=100"`
	// Role of the token. Required.
	Role Role `json:"role" validate:"required,oneof=admin operator viewer"`
	// ExpiresInDays makes the token expire. Optional; 0 means it never expires.
	ExpiresInDays int `json:"expires_in_days" validate:"min=0,max=3650"`
}

// Create issues a token and returns it in plain text (shown once) with its stored row.
func (t *Tokens) Create(ctx context.Context, o CreateOptions, createdBy string) (string, *store.Token, error) {
	if err := valid.Struct("", o); err != nil {
		return "", nil, err
	}
	o.Name = strings.TrimSpace(o.Name)
	if o.Name == "" {
		return "", nil, valid.Field("name", "must not be blank")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, fmt.Errorf("generate token: %w", err)
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	now := t.now().UTC()
	row := &store.Token{
		ID: uuid.New(), Name: o.Name, Role: string(o.Role), TokenHash: hash(secret),
		Prefix: secret[:len(tokenPrefix)+6], CreatedAt: now, CreatedBy: createdBy,
	}
	if o.ExpiresInDays > 0 {
		exp := now.AddDate(0, 0, o.ExpiresInDays)
		row.ExpiresAt = &exp
	}
	if err := t.store.Tokens.Insert(ctx, row); err != nil {
		return "", nil, err
	}
	return secret, row, nil
}

// Authenticate checks the Authorization header value and returns the caller.
func (t *Tokens) Authenticate(ctx context.Context, header string) (Principal, error) {
	scheme, secret, ok := strings.Cut(strings.TrimSpace(header), " ")
	if header == "" {
		return Principal{}, ErrNoToken
	}
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 200 {
		return Principal{}, ErrBadToken
	}
	row, err := t.store.Tokens.ByHash(ctx, hash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrBadToken
	}
	if err != nil {
		return Principal{}, err
	}
	now := t.now()
	if row.RevokedAt != nil || (row.ExpiresAt != nil && !now.Before(*row.ExpiresAt)) {
		return Principal{}, ErrBadToken
	}
	// The row read above says whether last_used_at is due; most requests skip the write.
	if row.LastUsedAt == nil || now.Sub(*row.LastUsedAt) >= touchInterval {
		if err := t.store.Tokens.Touch(ctx, row.ID, now.UTC(), touchInterval); err != nil {
			return Principal{}, err
		}
	}
	return Principal{TokenID: row.ID, Name: row.Name, Role: Role(row.Role)}, nil
}

// hash is SHA-256: tokens carry 256 random bits, so a fast hash is enough to make a stolen
// table useless, and it allows lookup by hash.
func hash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// Package dataout is the domain service of the data-out tasks: database connections (with
// sealed passwords and a connection test) and saved queries (checked through the database
// as the reporting role when saved). The API and the activities both go through it.
package dataout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/sqlout"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/valid"
)

// Service manages connections and saved queries.
type Service struct {
	// Store is the database. Required.
	Store *store.Store
	// Keyring seals and opens connection passwords. Required.
	Keyring *secrets.Keyring
	// Reporting runs user SQL as the reporting role. Optional; without it saved queries
	// are refused (sqlout.ErrNoReportingRole).
	Reporting *sqlout.Reporting
}

// ConnectionSpec is a connection as a client writes it.
type ConnectionSpec struct {
	// Name identifies the connection in task configurations (case-insensitive). Required.
	Name string `json:"name" validate:"required,max=200"`
	// Type is postgres or mysql (MySQL and MariaDB). Required.
	Type string `json:"type" validate:"required,oneof=postgres mysql"`
	Host string `json:"host" validate:"required,max=255,hostname_rfc1123|ip"`
	// Port defaults to 5432 (postgres) or 3306 (mysql).
	Port     int    `json:"port" validate:"omitempty,min=1,max=65535"`
	Database string `json:"database" validate:"required,max=64"`
	Username string `json:"username" validate:"required,max=128"`
	// Password is write-only and sealed. Optional on update: the stored one is kept while the
	// type, host, port and username stay.
	Password *string `json:"password,omitempty" validate:"omitempty,max=1024"`
	// TLSMode is disable, require, verify-ca or verify-full. Optional; defaults to require.
	TLSMode string `json:"tls_mode" validate:"omitempty,oneof=disable require verify-ca verify-full"`
	// CAPEM is the CA certificate (PEM) for verify-ca and verify-full. Optional.
	CAPEM string `json:"ca_pem" validate:"max=65536"`
}

func (s *ConnectionSpec) normalise() error {
	s.Name, s.Host = strings.TrimSpace(s.Name), strings.TrimSpace(s.Host)
	if s.Port == 0 {
		s.Port = map[string]int{sqlout.Postgres: 5432, sqlout.MySQL: 3306}[s.Type]
	}
	if s.TLSMode == "" {
		s.TLSMode = sqlout.TLSRequire
	}
	if err := valid.Struct("", s); err != nil {
		return err
	}
	if s.CAPEM != "" && !strings.Contains(s.CAPEM, "-----BEGIN CERTIFICATE-----") {
		return valid.Field("ca_pem", "is not a PEM certificate")
	}
	return nil
}

// CreateConnection validates spec, seals its password and stores the connection.
func (s *Service) CreateConnection(ctx context.Context, spec ConnectionSpec) (*store.DBConnection, error) {
	if err := spec.normalise(); err != nil {
		return nil, err
	}
	if spec.Password == nil {
		return nil, valid.Field("password", "is required")
	}
	now := time.Now().UTC()
	c := &store.DBConnection{ID: uuid.New(), CreatedAt: now, UpdatedAt: now}
	if err := s.apply(c, spec); err != nil {
		return nil, err
	}
	if err := s.Store.DBConnections.Insert(ctx, c); err != nil {
		return nil, nameTaken(err, spec.Name)
	}
	return c, nil
}

// UpdateConnection replaces a connection's settings; the password is kept when none is
// given, unless the type, host, port or username changes (it would go to another account).
func (s *Service) UpdateConnection(ctx context.Context, id uuid.UUID, spec ConnectionSpec) (*store.DBConnection, error) {
	if err := spec.normalise(); err != nil {
		return nil, err
	}
	c, err := s.Store.DBConnections.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if spec.Password == nil && (c.Type != spec.Type || c.Host != spec.Host || c.Port != spec.Port || c.Username != spec.Username) {
		return nil, valid.Field("password", "is required when the type, host, port or username changes")
	}
	c.UpdatedAt = time.Now().UTC()
	if err := s.apply(c, spec); err != nil {
		return nil, err
	}
	if err := s.Store.DBConnections.Update(ctx, c); err != nil {
		return nil, nameTaken(err, spec.Name)
	}
	return c, nil
}

func (s *Service) apply(c *store.DBConnection, spec ConnectionSpec) error {
	c.Name, c.Type, c.Host, c.Port, c.Database, c.Username, c.TLSMode, c.CAPEM = spec.Name, spec.Type, spec.Host, spec.Port, spec.Database,
		spec.Username, spec.TLSMode, spec.CAPEM
	if spec.Password != nil {
		sealed, err := s.Keyring.Seal(*spec.Password)
		if err != nil {
			return err
		}
		c.Password = sealed
	}
	return nil
}

func nameTaken(err error, name string) error {
	if errors.Is(err, store.ErrDuplicate) {
		return valid.Field("name", "%q is taken", name)
	}
	return err
}

// ConnConfig opens a stored connection's password into a target configuration.
func (s *Service) ConnConfig(c *store.DBConnection) (sqlout.ConnConfig, error) {
	pw, err := s.Keyring.Open(c.Password)
	if err != nil {
		return sqlout.ConnConfig{}, fmt.Errorf("connection %s: the stored password cannot be opened: %w", c.Name, err)
	}
	return sqlout.ConnConfig{Type: c.Type, Host: c.Host, Port: c.Port, Database: c.Database, Username: c.Username, Password: pw,
		TLSMode: c.TLSMode, CAPEM: c.CAPEM}, nil
}

// ErrNoConnection is returned for a connection name that names none.
var ErrNoConnection = errors.New("there is no database connection")

// OpenTarget connects to the connection named name.
func (s *Service) OpenTarget(ctx context.Context, name string) (*store.DBConnection, sqlout.Target, error) {
	c, err := s.Store.DBConnections.GetByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w named %q (POST /api/v1/db-connections)", ErrNoConnection, name)
	}
	if err != nil {
		return nil, nil, err
	}
	cfg, err := s.ConnConfig(c)
	if err != nil {
		return nil, nil, err
	}
	t, err := sqlout.Open(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connection %s (%s %s:%d/%s): %w", c.Name, c.Type, c.Host, c.Port, c.Database, err)
	}
	return c, t, nil
}

// ConnectionReport is the outcome of a connection test.
type ConnectionReport struct {
	OK         bool   `json:"ok"`
	Version    string `json:"version,omitempty"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// TestConnection connects with a stored connection and asks the server's version.
func (s *Service) TestConnection(ctx context.Context, id uuid.UUID, timeout time.Duration) (ConnectionReport, error) {
	c, err := s.Store.DBConnections.Get(ctx, id)
	if err != nil {
		return ConnectionReport{}, err
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rep := ConnectionReport{}
	cfg, err := s.ConnConfig(c)
	if err == nil {
		var t sqlout.Target
		if t, err = sqlout.Open(ctx, cfg); err == nil {
			rep.Version, err = t.Version(ctx)
			_ = t.Close()
		}
	}
	rep.OK, rep.DurationMS = err == nil, time.Since(start).Milliseconds()
	if err != nil {
		rep.Error = err.Error()
	}
	return rep, nil
}

// QuerySpec is a saved query as a client writes it.
type QuerySpec struct {
	// Name identifies the query in task configurations (case-insensitive). Required.
	Name string `json:"name" validate:"required,max=400"`
	// SQL is one statement that returns rows, over the reporting schema. Required.
	SQL         string `json:"sql" validate:"required,max=100000"`
	Description string `json:"description" validate:"max=2000"`
}

// checkSQL checks sql through the database as the reporting role; a problem of the SQL is a
// field error naming its line and column.
func (s *Service) checkSQL(ctx context.Context, sql string) ([]sqlout.Column, error) {
	if !s.Reporting.Configured() {
		return nil, sqlout.ErrNoReportingRole
	}
	cols, err := s.Reporting.Describe(ctx, sql)
	var qe *sqlout.QueryError
	if errors.As(err, &qe) {
		return nil, valid.Field("sql", "%s", qe.Error())
	}
	return cols, err
}

// CreateQuery checks and stores a saved query.
func (s *Service) CreateQuery(ctx context.Context, spec QuerySpec, by string) (*store.SavedQuery, error) {
	spec.Name = strings.TrimSpace(spec.Name)
	if err := valid.Struct("", &spec); err != nil {
		return nil, err
	}
	cols, err := s.checkSQL(ctx, spec.SQL)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(cols)
	now := time.Now().UTC()
	q := &store.SavedQuery{ID: uuid.New(), Name: spec.Name, SQL: spec.SQL, Description: spec.Description, Columns: raw, CreatedBy: by,
		CreatedAt: now, UpdatedAt: now}
	if err := s.Store.SavedQueries.Insert(ctx, q); err != nil {
		return nil, nameTaken(err, spec.Name)
	}
	return q, nil
}

// UpdateQuery checks and replaces a saved query.
func (s *Service) UpdateQuery(ctx context.Context, id uuid.UUID, spec QuerySpec) (*store.SavedQuery, error) {
	spec.Name = strings.TrimSpace(spec.Name)
	if err := valid.Struct("", &spec); err != nil {
		return nil, err
	}
	q, err := s.Store.SavedQueries.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	cols, err := s.checkSQL(ctx, spec.SQL)
	if err != nil {
		return nil, err
	}
	q.Columns, _ = json.Marshal(cols)
	q.Name, q.SQL, q.Description, q.UpdatedAt = spec.Name, spec.SQL, spec.Description, time.Now().UTC()
	if err := s.Store.SavedQueries.Update(ctx, q); err != nil {
		return nil, nameTaken(err, spec.Name)
	}
	return q, nil
}

package sqlout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// ErrNoReportingRole is returned while no reporting role is configured: user SQL is refused.
var ErrNoReportingRole = errors.New("user SQL is refused until the reporting role exists: create it and set REPORTING_DATABASE_URL (see the README, \"Data out\")")

// QueryError is a problem of the user's SQL, as the database reported it: Position is the
// 1-based character where it is (0 when the database gave none).
type QueryError struct {
	Message  string
	Position int
	Line     int
	Column   int
}

func (e *QueryError) Error() string {
	if e.Position > 0 {
		return fmt.Sprintf("%s (line %d, column %d)", e.Message, e.Line, e.Column)
	}
	return e.Message
}

// Reporting runs user SQL as the reporting role: on connections of its own that log in as
// that role (a role set with SET ROLE could be reset by the SQL it runs), in a read-only
// transaction with a server-side statement timeout.
type Reporting struct {
	url string
}

// NewReporting returns the runner for the reporting role's URL; "" refuses all user SQL.
func NewReporting(url string) *Reporting { return &Reporting{url: url} }

// Configured says whether user SQL can run.
func (r *Reporting) Configured() bool { return r != nil && r.url != "" }

// connect opens a connection as the reporting role and checks that the role can read the
// reporting schema and nothing else of Tributary's.
func (r *Reporting) connect(ctx context.Context) (*pgx.Conn, error) {
	if !r.Configured() {
		return nil, ErrNoReportingRole
	}
	conn, err := pgx.Connect(ctx, r.url)
	if err != nil {
		return nil, fmt.Errorf("connect as the reporting role: %w", err)
	}
	var super, tables bool
	err = conn.QueryRow(ctx, `SELECT r.rolsuper, has_table_privilege(current_user, 'public.integration_tasks', 'SELECT')
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&super, &tables)
	if err == nil && (super || tables) {
		err = errors.New("REPORTING_DATABASE_URL logs in as a role that can read more than the reporting schema; user SQL is refused (see the README)")
	}
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// Options bounds a query.
type Options struct {
	// Timeout is the server-side statement timeout. Optional; defaults to 5 minutes.
	Timeout time.Duration
}

// begin starts the read-only transaction a query runs in.
func begin(ctx context.Context, conn *pgx.Conn, opts Options) (pgx.Tx, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d; SET LOCAL search_path = reporting", opts.Timeout.Milliseconds())); err != nil {
		_ = tx.Rollback(ctx)
		return nil, err
	}
	return tx, nil
}

// Describe checks sql through the database (syntax, relations, columns, one statement that
// returns rows) without running it, and returns its result columns.
func (r *Reporting) Describe(ctx context.Context, sql string) ([]Column, error) {
	conn, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := begin(ctx, conn, Options{Timeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	sd, err := tx.Prepare(ctx, "", sql)
	if err != nil {
		return nil, queryError(sql, err)
	}
	cols, err := resultColumns(sd.Fields, conn.TypeMap())
	if err != nil {
		return nil, err
	}
	// Privileges are checked when a plan starts, not when it is prepared: EXPLAIN (which does
	// not run the query) checks them.
	rows, err := tx.Query(ctx, "EXPLAIN "+sql)
	if err == nil {
		for rows.Next() {
		}
		rows.Close()
		err = rows.Err()
	}
	if err != nil {
		return nil, queryError(sql, err)
	}
	return cols, nil
}

// Query runs sql and calls fn with its columns and rows; rows must be consumed within fn.
// The transaction is read-only and rolled back: nothing the SQL does is kept.
func (r *Reporting) Query(ctx context.Context, sql string, opts Options, fn func(cols []Column, rows pgx.Rows) error) error {
	return r.QueryScript(ctx, []string{sql}, opts, func(_ int, cols []Column, rows pgx.Rows) error { return fn(cols, rows) })
}

// QueryScript runs statements (from SplitStatements) in one read-only transaction as the
// reporting role, calling fn with the index, columns and rows of each. Errors of a script of
// several statements name the statement.
func (r *Reporting) QueryScript(ctx context.Context, statements []string, opts Options, fn func(i int, cols []Column, rows pgx.Rows) error) error {
	conn, err := r.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := begin(ctx, conn, opts)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	for i, sql := range statements {
		if err := runStatement(ctx, tx, conn.TypeMap(), i, sql, fn); err != nil {
			if len(statements) > 1 {
				return fmt.Errorf("statement %d: %w", i+1, err)
			}
			return err
		}
	}
	return nil
}

func runStatement(ctx context.Context, tx pgx.Tx, tm *pgtype.Map, i int, sql string, fn func(i int, cols []Column, rows pgx.Rows) error) error {
	sd, err := tx.Prepare(ctx, fmt.Sprintf("tributary_statement_%d", i+1), sql)
	if err != nil {
		return queryError(sql, err)
	}
	cols, err := resultColumns(sd.Fields, tm)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, sd.Name)
	if err != nil {
		return queryError(sql, err)
	}
	defer rows.Close()
	if err := fn(i, cols, rows); err != nil {
		return err
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return queryError(sql, err)
	}
	return nil
}

// typeOf maps a PostgreSQL type to a column type; unsupported types must be cast.
var typeOf = map[uint32]string{
	pgtype.Int2OID: TypeBigint, pgtype.Int4OID: TypeBigint, pgtype.Int8OID: TypeBigint, pgtype.OIDOID: TypeBigint,
	pgtype.NumericOID: TypeNumeric, pgtype.Float4OID: TypeDouble, pgtype.Float8OID: TypeDouble,
	pgtype.BoolOID: TypeBoolean,
	pgtype.TextOID: TypeText, pgtype.VarcharOID: TypeText, pgtype.BPCharOID: TypeText, pgtype.NameOID: TypeText, pgtype.QCharOID: TypeText,
	pgtype.TimestamptzOID: TypeTimestamptz, pgtype.TimestampOID: TypeTimestamptz, pgtype.DateOID: TypeDate,
	pgtype.UUIDOID: TypeUUID, pgtype.JSONOID: TypeJSON, pgtype.JSONBOID: TypeJSON, pgtype.ByteaOID: TypeBytes,
}

func resultColumns(fields []pgconn.FieldDescription, tm *pgtype.Map) ([]Column, error) {
	if len(fields) == 0 {
		return nil, &QueryError{Message: "the statement returns no rows: a query must be a SELECT (or VALUES, or WITH … SELECT) that returns columns"}
	}
	cols := make([]Column, len(fields))
	for i, f := range fields {
		t, ok := typeOf[f.DataTypeOID]
		if !ok {
			name := fmt.Sprintf("type %d", f.DataTypeOID)
			if dt, ok := tm.TypeForOID(f.DataTypeOID); ok {
				name = dt.Name
			}
			return nil, &QueryError{Message: fmt.Sprintf("column %d (%s) is of type %s, which the targets do not take: cast it, e.g. %s::text "+
				"or array_to_string(%s, ',')", i+1, f.Name, name, f.Name, f.Name)}
		}
		cols[i] = Column{Name: f.Name, Type: t}
	}
	return cols, nil
}

// queryError turns the database's error about sql into a QueryError with the line and column
// of its position.
func queryError(sql string, err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	qe := &QueryError{Message: pe.Message, Position: int(pe.Position)}
	switch pe.Code {
	case "57014":
		qe.Message = "the query was cancelled on the server: it ran longer than the statement timeout"
	case "25006":
		qe.Message = "the query tries to write: " + pe.Message + " (queries run read-only)"
	case "42501":
		qe.Message = pe.Message + " (queries read the reporting schema only)"
	}
	if pe.Hint != "" {
		qe.Message += "; hint: " + pe.Hint
	}
	if qe.Position > 0 {
		runes := []rune(sql)
		qe.Line, qe.Column = 1, 1
		for i := 0; i < qe.Position-1 && i < len(runes); i++ {
			if runes[i] == '\n' {
				qe.Line, qe.Column = qe.Line+1, 1
			} else {
				qe.Column++
			}
		}
	}
	return qe
}

// SplitStatements splits a script into statements at semicolons outside quotes ('…', "…",
// E'…' with backslash escapes), dollar quoting ($$…$$, $tag$…$tag$) and comments (-- to the
// end of the line, nested /* … */). Empty statements are dropped.
func SplitStatements(script string) []string {
	var out []string
	start, i, n := 0, 0, len(script)
	emit := func(end int) {
		if s := strings.TrimSpace(script[start:end]); s != "" && !onlyComments(s) {
			out = append(out, s)
		}
	}
	for i < n {
		c := script[i]
		switch {
		case c == '-' && i+1 < n && script[i+1] == '-':
			for i < n && script[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < n && script[i+1] == '*':
			depth := 0
			for i < n {
				if i+1 < n && script[i] == '/' && script[i+1] == '*' {
					depth++
					i += 2
					continue
				}
				if i+1 < n && script[i] == '*' && script[i+1] == '/' {
					depth--
					i += 2
					if depth == 0 {
						break
					}
					continue
				}
				i++
			}
			continue
		case c == '\'' || c == '"':
			escapes := c == '\'' && i > 0 && (script[i-1] == 'E' || script[i-1] == 'e') && (i < 2 || !isIdentByte(script[i-2]))
			i++
			for i < n {
				if escapes && script[i] == '\\' {
					i += 2
					continue
				}
				if script[i] == c {
					if i+1 < n && script[i+1] == c { // doubled quote
						i += 2
						continue
					}
					break
				}
				i++
			}
			i++
			continue
		case c == '$' && (i == 0 || !isIdentByte(script[i-1])):
			if tag, ok := dollarTag(script[i:]); ok {
				end := strings.Index(script[i+len(tag):], tag)
				if end < 0 {
					i = n
				} else {
					i += len(tag) + end + len(tag)
				}
				continue
			}
		case c == ';':
			emit(i)
			start = i + 1
		}
		i++
	}
	emit(n)
	return out
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// dollarTag returns the dollar-quote opening at the start of s ($$ or $tag$).
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		if c == '$' {
			return s[:j+1], true
		}
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || (j > 1 && c >= '0' && c <= '9')) {
			return "", false
		}
	}
	return "", false
}

// onlyComments says whether a statement is nothing but comments.
func onlyComments(rest string) bool {
	for {
		rest = strings.TrimSpace(rest)
		switch {
		case rest == "":
			return true
		case strings.HasPrefix(rest, "--"):
			k := strings.IndexByte(rest, '\n')
			if k < 0 {
				return true
			}
			rest = rest[k+1:]
		case strings.HasPrefix(rest, "/*"):
			k := strings.Index(rest, "*/")
			if k < 0 {
				return true
			}
			rest = rest[k+2:]
		default:
			return false
		}
	}
}

package sqlout

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

type pgTarget struct{ conn *pgx.Conn }

// pgTypes are the column types of a PostgreSQL target.
var pgTypes = map[string]string{
	TypeText: "text", TypeBigint: "bigint", TypeNumeric: "numeric", TypeDouble: "double precision", TypeBoolean: "boolean",
	TypeTimestamptz: "timestamptz", TypeDate: "date", TypeUUID: "uuid", TypeJSON: "jsonb", TypeBytes: "bytea",
}

// pgInfoTypes maps information_schema's data_type back to column types.
var pgInfoTypes = map[string]string{
	"text": TypeText, "bigint": TypeBigint, "numeric": TypeNumeric, "double precision": TypeDouble, "boolean": TypeBoolean,
	"timestamp with time zone": TypeTimestamptz, "date": TypeDate, "uuid": TypeUUID, "jsonb": TypeJSON, "bytea": TypeBytes,
}

// pgValue quotes a keyword/value connection parameter.
func pgValue(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func openPostgres(ctx context.Context, c ConnConfig) (*pgTarget, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=disable connect_timeout=20",
		pgValue(c.Host), c.Port, pgValue(c.Database), pgValue(c.Username)))
	if err != nil {
		return nil, fmt.Errorf("connection settings: %w", err)
	}
	cfg.Password = c.Password
	if cfg.TLSConfig, err = c.tlsConfig(); err != nil {
		return nil, err
	}
	cfg.Fallbacks = nil
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, connectError(err)
	}
	return &pgTarget{conn: conn}, nil
}

// connectError keeps what helps an admin from a connection failure, never the password.
func connectError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("the database refused the connection: %s (%s)", pe.Message, pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("cannot connect: %v", ce.Unwrap())
	}
	return err
}

func (t *pgTarget) Close() error { return t.conn.Close(context.Background()) }

func (t *pgTarget) Version(ctx context.Context) (string, error) {
	var v string
	err := t.conn.QueryRow(ctx, "SELECT version()").Scan(&v)
	return v, err
}

func pgIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

func pgColumnList(cols []Column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = pgIdent(c.Name)
	}
	return strings.Join(names, ", ")
}

// columns reads a table's columns, nil when the table does not exist.
func (t *pgTarget) columns(ctx context.Context, tx pgx.Tx, table string) ([]Column, error) {
	rows, err := tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, err
	}
	var cols []Column
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return nil, err
		}
		ct, ok := pgInfoTypes[typ]
		if !ok {
			ct = typ
		}
		cols = append(cols, Column{Name: name, Type: ct})
	}
	return cols, rows.Err()
}

func (t *pgTarget) create(ctx context.Context, tx pgx.Tx, table string, e Export) error {
	defs := make([]string, len(e.Columns))
	for i, c := range e.Columns {
		defs[i] = pgIdent(c.Name) + " " + pgTypes[c.Type]
	}
	if e.Mode == ModeIncremental {
		keys := make([]string, len(e.Keys))
		for i, k := range e.Keys {
			keys[i] = pgIdent(k)
		}
		defs = append(defs, "PRIMARY KEY ("+strings.Join(keys, ", ")+")")
	}
	_, err := tx.Exec(ctx, "CREATE TABLE "+pgIdent(table)+" ("+strings.Join(defs, ", ")+")")
	return err
}

func (t *pgTarget) Write(ctx context.Context, e Export, src Source) (res Result, err error) {
	res, err = t.write(ctx, e, src)
	var rf *Refused
	if err != nil && !errors.As(err, &rf) {
		err = pgRefused(err)
	}
	return res, err
}

func (t *pgTarget) write(ctx context.Context, e Export, src Source) (res Result, err error) {
	table := ShortIdent(e.Table, MaxIdent[Postgres])
	res.Table = table
	// COPY describes the table through pgx's caches, which a definition changed since (by
	// this export or anyone) would make wrong: start from empty caches.
	if err := t.conn.DeallocateAll(ctx); err != nil {
		return res, err
	}
	tx, err := t.conn.Begin(ctx)
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = t.refreshTable(ctx, tx); err != nil {
		return res, err
	}
	prev, err := t.columns(ctx, tx, table)
	if err != nil {
		return res, err
	}
	add, rebuild, err := checkPlan(&e, prev)
	if err != nil {
		return res, err
	}
	if rebuild {
		if _, err = tx.Exec(ctx, "DROP TABLE "+pgIdent(table)); err != nil {
			return res, fmt.Errorf("rebuild %s (drop it first; views that depend on it must be dropped and created again): %w", table, err)
		}
		prev, res.Rebuilt = nil, true
	}
	if prev == nil {
		if err = t.create(ctx, tx, table, e); err != nil {
			return res, fmt.Errorf("create %s: %w", table, err)
		}
		res.Created = !res.Rebuilt
	}
	for _, c := range add {
		if _, err = tx.Exec(ctx, "ALTER TABLE "+pgIdent(table)+" ADD COLUMN "+pgIdent(c.Name)+" "+pgTypes[c.Type]); err != nil {
			return res, fmt.Errorf("add column %s to %s: %w", c.Name, table, err)
		}
		res.Altered = true
	}
	names := make([]string, len(e.Columns))
	for i, c := range e.Columns {
		names[i] = c.Name
	}
	rows := &capped{src: src, max: e.MaxRows}
	if e.Mode == ModeFull {
		tag, err := tx.Exec(ctx, "DELETE FROM "+pgIdent(table))
		if err != nil {
			return res, err
		}
		res.Deleted = tag.RowsAffected()
		if res.Written, err = tx.CopyFrom(ctx, pgx.Identifier{table}, names, rows); err != nil {
			return res, copyError(rows, err)
		}
	} else {
		stage := "tributary_stage"
		if _, err = tx.Exec(ctx, "CREATE TEMP TABLE "+stage+" (LIKE "+pgIdent(table)+") ON COMMIT DROP"); err != nil {
			return res, err
		}
		if res.Written, err = tx.CopyFrom(ctx, pgx.Identifier{stage}, names, rows); err != nil {
			return res, copyError(rows, err)
		}
		cols := pgColumnList(e.Columns)
		keys := make([]string, len(e.Keys))
		match := make([]string, len(e.Keys))
		for i, k := range e.Keys {
			keys[i] = pgIdent(k)
			match[i] = "s." + pgIdent(k) + " = t." + pgIdent(k)
		}
		var sets, olds, news []string
		for _, c := range e.Columns {
			q := pgIdent(c.Name)
			sets = append(sets, q+" = EXCLUDED."+q)
			olds = append(olds, "t."+q)
			news = append(news, "EXCLUDED."+q)
		}
		if _, err = tx.Exec(ctx, "INSERT INTO "+pgIdent(table)+" AS t ("+cols+") SELECT "+cols+" FROM "+stage+
			" ON CONFLICT ("+strings.Join(keys, ", ")+") DO UPDATE SET "+strings.Join(sets, ", ")+
			" WHERE ("+strings.Join(olds, ", ")+") IS DISTINCT FROM ("+strings.Join(news, ", ")+")"); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "21000" {
				return res, refused("the query's result repeats a key (%s): an incremental export needs unique keys", strings.Join(e.Keys, ", "))
			}
			if errors.As(err, &pe) && pe.Code == "23502" {
				return res, refused("a key column is null in the query's result: %s", pe.Message)
			}
			return res, err
		}
		if e.DeleteMissing {
			tag, err := tx.Exec(ctx, "DELETE FROM "+pgIdent(table)+" t WHERE NOT EXISTS (SELECT 1 FROM "+stage+" s WHERE "+strings.Join(match, " AND ")+")")
			if err != nil {
				return res, err
			}
			res.Deleted = tag.RowsAffected()
		}
	}
	var prevRun string
	var prevDeleted int64
	err = tx.QueryRow(ctx, "SELECT coalesce(run_id::text, ''), run_deleted FROM "+RefreshTable+" WHERE table_name = $1 FOR UPDATE", table).Scan(&prevRun, &prevDeleted)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	} else if err != nil {
		return res, fmt.Errorf("read the last refresh: %w", err)
	}
	res.Deleted = runDeleted(e, prevRun, prevDeleted, res.Deleted)
	if _, err = tx.Exec(ctx, "INSERT INTO "+RefreshTable+" (table_name, refreshed_at, row_count, run_id, run_deleted) SELECT $1, now(), count(*), $2, $3 FROM "+pgIdent(table)+
		" ON CONFLICT (table_name) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at, row_count = EXCLUDED.row_count, run_id = EXCLUDED.run_id, run_deleted = EXCLUDED.run_deleted",
		table, e.RunID, res.Deleted); err != nil {
		return res, fmt.Errorf("record the refresh: %w", err)
	}
	return res, tx.Commit(ctx)
}

// refreshTable creates RefreshTable, or adds run_deleted to one an earlier version created.
func (t *pgTarget) refreshTable(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+RefreshTable+
		" (table_name text PRIMARY KEY, refreshed_at timestamptz NOT NULL, row_count bigint NOT NULL, run_id uuid, run_deleted bigint NOT NULL DEFAULT 0)"); err != nil {
		return fmt.Errorf("create %s: %w", RefreshTable, err)
	}
	var has bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'run_deleted')`, RefreshTable).Scan(&has); err != nil {
		return err
	}
	if !has {
		if _, err := tx.Exec(ctx, "ALTER TABLE "+RefreshTable+" ADD COLUMN IF NOT EXISTS run_deleted bigint NOT NULL DEFAULT 0"); err != nil {
			return fmt.Errorf("add run_deleted to %s: %w", RefreshTable, err)
		}
	}
	return nil
}

// pgRefused makes an answer of a PostgreSQL target that a retry cannot change (a class other
// than connection, transaction rollback, resources, operator intervention and system errors)
// Refused, keeping its message.
func pgRefused(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return err
	}
	switch pe.Code[:2] {
	case "08", "40", "53", "57", "58", "XX":
		return err
	}
	return &Refused{Msg: fmt.Sprintf("the database answered: %s (%s)", pe.Message, pe.Code)}
}

// copyError prefers the source's own error (the reporting query's, or the row cap) to the
// COPY's.
func copyError(src *capped, err error) error {
	if serr := src.Err(); serr != nil {
		return serr
	}
	return err
}

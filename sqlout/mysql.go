package sqlout

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

type myTarget struct{ db *sql.DB }

// myTypes are the column types of a MySQL/MariaDB target; key columns of type text are
// VARCHAR(768) (an index takes at most 3,072 bytes of utf8mb4). JSON is LONGTEXT with a
// comment that says so (MariaDB's JSON is LONGTEXT), so that the type can be read back.
var myTypes = map[string]string{
	TypeText: "LONGTEXT", TypeBigint: "BIGINT", TypeNumeric: "DECIMAL(65,30)", TypeDouble: "DOUBLE", TypeBoolean: "BOOLEAN",
	TypeTimestamptz: "DATETIME(6)", TypeDate: "DATE", TypeUUID: "CHAR(36)", TypeJSON: "LONGTEXT COMMENT 'tributary:json'", TypeBytes: "LONGBLOB",
}

// myInfoTypes maps information_schema's DATA_TYPE back to column types.
var myInfoTypes = map[string]string{
	"longtext": TypeText, "varchar": TypeText, "bigint": TypeBigint, "decimal": TypeNumeric, "double": TypeDouble, "tinyint": TypeBoolean,
	"datetime": TypeTimestamptz, "date": TypeDate, "char": TypeUUID, "longblob": TypeBytes,
}

func openMySQL(c ConnConfig) (*myTarget, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = c.Username, c.Password, "tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), c.Database
	cfg.ParseTime, cfg.Loc = true, time.UTC
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 20*time.Second, 10*time.Minute, 10*time.Minute
	cfg.Params = map[string]string{"time_zone": "'+00:00'", "sql_mode": "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		cfg.TLS = tc
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("connection settings: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	return &myTarget{db: db}, nil
}

func (t *myTarget) Close() error { return t.db.Close() }

func (t *myTarget) Version(ctx context.Context) (string, error) {
	var v string
	err := t.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v)
	return v, myError(err)
}

// myError keeps what helps an admin from a driver error, never the password. An answer of
// the server that a retry cannot change is Refused.
func myError(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		msg := fmt.Sprintf("the database answered: %s (%d)", me.Message, me.Number)
		switch me.Number {
		case 1040, 1053, 1205, 1213, 1317, 1927, 2006, 2013: // too many connections, shutdown, lock waits, deadlock, killed, gone
			return errors.New(msg)
		}
		return &Refused{Msg: msg}
	}
	return err
}

// myIdent quotes an identifier with backquotes.
func myIdent(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

func myColumnList(cols []Column, prefix string) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = prefix + myIdent(c.Name)
	}
	return strings.Join(names, ", ")
}

func (t *myTarget) columns(ctx context.Context, conn *sql.Conn, table string) ([]Column, error) {
	rows, err := conn.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_COMMENT FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, table)
	if err != nil {
		return nil, myError(err)
	}
	defer rows.Close()
	var cols []Column
	for rows.Next() {
		var name, typ, comment string
		if err := rows.Scan(&name, &typ, &comment); err != nil {
			return nil, err
		}
		ct, ok := myInfoTypes[strings.ToLower(typ)]
		if comment == "tributary:json" {
			ct, ok = TypeJSON, true
		}
		if !ok {
			ct = typ
		}
		cols = append(cols, Column{Name: name, Type: ct})
	}
	return cols, rows.Err()
}

func (t *myTarget) createSQL(table string, e Export) string {
	keys := map[string]bool{}
	for _, k := range e.Keys {
		keys[k] = true
	}
	// An index takes at most 3,072 bytes: text keys (4 bytes a utf8mb4 character) share what
	// the other key columns leave.
	textKeys, budget := 0, 3072
	for _, c := range e.Columns {
		switch {
		case !keys[c.Name]:
		case c.Type == TypeText:
			textKeys++
		case c.Type == TypeUUID:
			budget -= 144
		default:
			budget -= 40
		}
	}
	defs := make([]string, len(e.Columns))
	for i, c := range e.Columns {
		typ := myTypes[c.Type]
		if keys[c.Name] && c.Type == TypeText {
			typ = fmt.Sprintf("VARCHAR(%d)", max(budget/4/textKeys-2, 1))
		}
		defs[i] = myIdent(c.Name) + " " + typ
	}
	if e.Mode == ModeIncremental {
		ks := make([]string, len(e.Keys))
		for i, k := range e.Keys {
			ks[i] = myIdent(k)
		}
		defs = append(defs, "PRIMARY KEY ("+strings.Join(ks, ", ")+")")
	}
	return "CREATE TABLE " + myIdent(table) + " (" + strings.Join(defs, ", ") + ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
}

// refreshTable creates RefreshTable, or adds run_deleted to one an earlier version created
// (DDL, so before the write's transaction).
func (t *myTarget) refreshTable(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+RefreshTable+
		" (table_name VARCHAR(64) PRIMARY KEY, refreshed_at DATETIME(6) NOT NULL, row_count BIGINT NOT NULL, run_id CHAR(36),"+
		" run_deleted BIGINT NOT NULL DEFAULT 0) ENGINE=InnoDB"); err != nil {
		return fmt.Errorf("create %s: %w", RefreshTable, myError(err))
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'run_deleted'`, RefreshTable).Scan(&n); err != nil {
		return myError(err)
	}
	if n == 0 {
		if _, err := conn.ExecContext(ctx, "ALTER TABLE "+RefreshTable+" ADD COLUMN run_deleted BIGINT NOT NULL DEFAULT 0"); err != nil {
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1060 { // 1060: another run added it first
				return fmt.Errorf("add run_deleted to %s: %w", RefreshTable, myError(err))
			}
		}
	}
	return nil
}

// Write writes the rows in one InnoDB transaction. The table's definition changes before it
// (MySQL commits DDL on its own): a new table is created empty, added columns are NULL until
// the rows arrive, and a rebuild fills a new table that RENAME TABLE swaps in atomically.
func (t *myTarget) Write(ctx context.Context, e Export, src Source) (res Result, err error) {
	table := ShortIdent(e.Table, MaxIdent[MySQL])
	res.Table = table
	conn, err := t.db.Conn(ctx)
	if err != nil {
		return res, myError(err)
	}
	defer conn.Close()
	if err = t.refreshTable(ctx, conn); err != nil {
		return res, err
	}
	prev, err := t.columns(ctx, conn, table)
	if err != nil {
		return res, err
	}
	add, rebuild, err := checkPlan(&e, prev)
	if err != nil {
		return res, err
	}
	into := table
	if rebuild {
		into = ShortIdent(e.Table+"__tributary_new", MaxIdent[MySQL])
		if _, err = conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+myIdent(into)); err != nil {
			return res, myError(err)
		}
		if _, err = conn.ExecContext(ctx, t.createSQL(into, e)); err != nil {
			return res, fmt.Errorf("rebuild %s: %w", table, myError(err))
		}
		res.Rebuilt = true
	} else if prev == nil {
		if _, err = conn.ExecContext(ctx, t.createSQL(table, e)); err != nil {
			return res, fmt.Errorf("create %s: %w", table, myError(err))
		}
		res.Created = true
	}
	for _, c := range add {
		if _, err = conn.ExecContext(ctx, "ALTER TABLE "+myIdent(table)+" ADD COLUMN "+myIdent(c.Name)+" "+myTypes[c.Type]); err != nil {
			return res, fmt.Errorf("add column %s to %s: %w", c.Name, table, myError(err))
		}
		res.Altered = true
	}
	stage := ""
	if e.Mode == ModeIncremental && !rebuild {
		stage = "tributary_stage"
		if _, err = conn.ExecContext(ctx, "DROP TEMPORARY TABLE IF EXISTS "+stage); err != nil {
			return res, myError(err)
		}
		if _, err = conn.ExecContext(ctx, "CREATE TEMPORARY TABLE "+stage+" LIKE "+myIdent(table)); err != nil {
			return res, myError(err)
		}
		defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "DROP TEMPORARY TABLE IF EXISTS "+stage) }()
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return res, myError(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if e.Mode == ModeFull && !rebuild {
		r, err := tx.ExecContext(ctx, "DELETE FROM "+myIdent(table))
		if err != nil {
			return res, myError(err)
		}
		res.Deleted, _ = r.RowsAffected()
	}
	dest := into
	if stage != "" {
		dest = stage
	}
	rows := &capped{src: src, max: e.MaxRows}
	if res.Written, err = insertBatches(ctx, tx, dest, e.Columns, rows); err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && e.Mode == ModeIncremental && (me.Number == 1062 || me.Number == 1048) {
			return res, refused("the query's result repeats a key or has a null key (%s): an incremental export needs unique keys (%s)",
				strings.Join(e.Keys, ", "), me.Message)
		}
		return res, myError(err)
	}
	if stage != "" {
		var sets []string
		for _, c := range e.Columns {
			sets = append(sets, myIdent(c.Name)+" = VALUES("+myIdent(c.Name)+")")
		}
		cols := myColumnList(e.Columns, "")
		if _, err = tx.ExecContext(ctx, "INSERT INTO "+myIdent(table)+" ("+cols+") SELECT "+cols+" FROM "+stage+
			" ON DUPLICATE KEY UPDATE "+strings.Join(sets, ", ")); err != nil {
			return res, myError(err)
		}
		if e.DeleteMissing {
			var on []string
			for _, k := range e.Keys {
				on = append(on, "s."+myIdent(k)+" = t."+myIdent(k))
			}
			r, err := tx.ExecContext(ctx, "DELETE t FROM "+myIdent(table)+" t LEFT JOIN "+stage+" s ON "+strings.Join(on, " AND ")+
				" WHERE s."+myIdent(e.Keys[0])+" IS NULL")
			if err != nil {
				return res, myError(err)
			}
			res.Deleted, _ = r.RowsAffected()
		}
	}
	var prevRun string
	var prevDeleted int64
	err = tx.QueryRowContext(ctx, "SELECT COALESCE(run_id, ''), run_deleted FROM "+RefreshTable+" WHERE table_name = ? FOR UPDATE", table).Scan(&prevRun, &prevDeleted)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	} else if err != nil {
		return res, fmt.Errorf("read the last refresh: %w", myError(err))
	}
	res.Deleted = runDeleted(e, prevRun, prevDeleted, res.Deleted)
	if _, err = tx.ExecContext(ctx, "INSERT INTO "+RefreshTable+" (table_name, refreshed_at, row_count, run_id, run_deleted) SELECT ?, UTC_TIMESTAMP(6), COUNT(*), ?, ? FROM "+
		myIdent(into)+" ON DUPLICATE KEY UPDATE refreshed_at = VALUES(refreshed_at), row_count = VALUES(row_count), run_id = VALUES(run_id), run_deleted = VALUES(run_deleted)",
		table, e.RunID.String(), res.Deleted); err != nil {
		return res, fmt.Errorf("record the refresh: %w", myError(err))
	}
	if err = tx.Commit(); err != nil {
		return res, myError(err)
	}
	if rebuild {
		old := ShortIdent(e.Table+"__tributary_old", MaxIdent[MySQL])
		if _, err = conn.ExecContext(ctx, "RENAME TABLE "+myIdent(table)+" TO "+myIdent(old)+", "+myIdent(into)+" TO "+myIdent(table)); err != nil {
			return res, fmt.Errorf("swap the rebuilt %s in: %w", table, myError(err))
		}
		if _, err = conn.ExecContext(ctx, "DROP TABLE "+myIdent(old)); err != nil {
			return res, myError(err)
		}
	}
	return res, nil
}

// insertBatches inserts the rows with multi-row INSERTs of up to 1,000 rows (and 60,000
// values), converting each value for the driver.
func insertBatches(ctx context.Context, tx *sql.Tx, table string, cols []Column, src *capped) (int64, error) {
	per := min(1000, 60000/len(cols))
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	head := "INSERT INTO " + myIdent(table) + " (" + myColumnList(cols, "") + ") VALUES "
	full, err := tx.PrepareContext(ctx, head+strings.TrimSuffix(strings.Repeat(row+", ", per), ", "))
	if err != nil {
		return 0, myError(err)
	}
	defer full.Close()
	args := make([]any, 0, per*len(cols))
	var n int64
	flush := func(rowsIn int) error {
		if rowsIn == 0 {
			return nil
		}
		var err error
		if rowsIn == per {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, head+strings.TrimSuffix(strings.Repeat(row+", ", rowsIn), ", "), args...)
		}
		args = args[:0]
		return err
	}
	inBatch := 0
	for src.Next() {
		vals, err := src.Values()
		if err != nil {
			return n, err
		}
		for i, v := range vals {
			pv, err := plainValue(cols[i].Type, v)
			if err != nil {
				return n, fmt.Errorf("column %s: %w", cols[i].Name, err)
			}
			args = append(args, pv)
		}
		n++
		if inBatch++; inBatch == per {
			if err := flush(inBatch); err != nil {
				return n, err
			}
			inBatch = 0
		}
	}
	if err := src.Err(); err != nil {
		return n, err
	}
	return n, flush(inBatch)
}

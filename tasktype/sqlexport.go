package tasktype

import (
	"fmt"
	"strings"

	"github.com/tributary-io/tributary/sqlout"
	"github.com/tributary-io/tributary/valid"
)

// SQLExport is the Export Queries to SQL Tables task type.
const SQLExport = "sql_export"

// ActivityExportQueries executes a run of the type.
const ActivityExportQueries = "ExportQueries"

func init() {
	Register(Type{ConfigSchema: "SQLExportConfig", Name: SQLExport, Activity: ActivityExportQueries, Title: "Export Queries to SQL Tables",
		Description: "Runs saved queries over the reporting schema (as the read-only reporting role) and writes each result to a table of a " +
			"target PostgreSQL or MySQL/MariaDB database: a full refresh in one transaction (readers never see the table empty), or an " +
			"incremental upsert by key columns, optionally deleting rows that disappeared.",
		New: func() Config {
			return &SQLExportConfig{SchemaChange: sqlout.SchemaFail, MaxRows: 10_000_000, TimeoutSeconds: 600}
		}})
}

// SQLExportConfig configures the Export Queries to SQL Tables task.
type SQLExportConfig struct {
	// Connection names the target database connection (POST /api/v1/db-connections).
	// Required.
	Connection string `json:"connection" validate:"required,max=200"`
	// Exports are the saved queries to export, each to a table. Required.
	Exports []SQLExportItem `json:"exports" validate:"required,min=1,max=100,dive"`
	// SchemaChange is what an export does when its query's columns changed since the table was
	// written: "fail", "add_columns" (new columns added; removed ones stay, NULL) or "rebuild"
	// (the table is created again). Optional; defaults to fail.
	SchemaChange string `json:"schema_change" validate:"oneof=fail add_columns rebuild"`
	// MaxRows fails an export whose result has more rows (nothing of it is written).
	// Optional; defaults to 10,000,000.
	MaxRows int64 `json:"max_rows" validate:"min=1,max=1000000000"`
	// TimeoutSeconds is the server-side statement timeout of each query. Optional; defaults
	// to 600.
	TimeoutSeconds int `json:"timeout_seconds" validate:"min=1,max=86400"`
}

// SQLExportItem exports one saved query to one table.
type SQLExportItem struct {
	// Query names a saved query. Required.
	Query string `json:"query" validate:"required,max=400"`
	// Table is the target table: letters, digits and underscores (shortened to 63 bytes in
	// PostgreSQL, 64 in MySQL). Required.
	Table string `json:"table" validate:"required,max=200"`
	// Mode is "full" (the table's rows replaced) or "incremental" (upsert by KeyColumns).
	// Optional; defaults to full.
	Mode string `json:"mode" validate:"omitempty,oneof=full incremental"`
	// KeyColumns identify a row for an incremental export (the table's primary key).
	KeyColumns []string `json:"key_columns,omitempty" validate:"max=16,dive,required,max=200"`
	// DeleteMissing deletes, in an incremental export, the rows whose keys the result lacks.
	DeleteMissing bool `json:"delete_missing,omitempty"`
}

// ApplyDefaults sets each export's mode.
func (c *SQLExportConfig) ApplyDefaults() {
	for i := range c.Exports {
		if c.Exports[i].Mode == "" {
			c.Exports[i].Mode = sqlout.ModeFull
		}
	}
}

// Validate checks table names, keys and that no table is written twice.
func (c *SQLExportConfig) Validate() []valid.FieldError {
	var fs []valid.FieldError
	tables := map[string]int{}
	for i, e := range c.Exports {
		at := fmt.Sprintf("exports[%d]", i)
		if err := sqlout.CheckTableName(e.Table); err != nil {
			fs = append(fs, valid.FieldError{Field: at + ".table", Message: err.Error()})
		}
		if j, dup := tables[strings.ToLower(e.Table)]; dup {
			fs = append(fs, valid.FieldError{Field: at + ".table", Message: fmt.Sprintf("exports[%d] writes the same table", j)})
		}
		tables[strings.ToLower(e.Table)] = i
		switch {
		case e.Mode == sqlout.ModeIncremental && len(e.KeyColumns) == 0:
			fs = append(fs, valid.FieldError{Field: at + ".key_columns", Message: "an incremental export needs its key columns"})
		case e.Mode != sqlout.ModeIncremental && (len(e.KeyColumns) > 0 || e.DeleteMissing):
			fs = append(fs, valid.FieldError{Field: at + ".mode", Message: "key_columns and delete_missing apply to incremental exports"})
		}
	}
	return fs
}

// Redacted: the configuration holds no secret (the connection's password is the connection's).
func (c *SQLExportConfig) Redacted() any { return c }

// KeepSecrets: no secrets.
func (c *SQLExportConfig) KeepSecrets(Config) {}

// SecretFields: none.
func (c *SQLExportConfig) SecretFields() []*string { return nil }

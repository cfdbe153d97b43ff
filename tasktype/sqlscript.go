package tasktype

import (
	"fmt"
	"strings"

	"github.com/tributary-io/tributary/sqlout"
	"github.com/tributary-io/tributary/valid"
)

// SQLScript is the Run SQL Script task type.
const SQLScript = "sql_script"

// ActivityRunSQLScript executes a run of the type.
const ActivityRunSQLScript = "RunSQLScript"

func init() {
	Register(Type{ConfigSchema: "SQLScriptConfig", Name: SQLScript, Activity: ActivityRunSQLScript, Title: "Run SQL Script",
		Description: "Runs a script of several SELECT statements over the reporting schema as the read-only reporting role, in one transaction " +
			"(one consistent snapshot), and writes each statement's result to its table of a target PostgreSQL or MySQL/MariaDB database, " +
			"each table refreshed in one transaction.",
		New: func() Config {
			return &SQLScriptConfig{SchemaChange: sqlout.SchemaFail, MaxRows: 10_000_000, TimeoutSeconds: 600}
		}})
}

// SQLScriptConfig configures the Run SQL Script task.
type SQLScriptConfig struct {
	// Connection names the target database connection. Required.
	Connection string `json:"connection" validate:"required,max=200"`
	// Script is the statements, separated by semicolons (quotes, dollar quoting and comments
	// are respected). Each must return rows. Required.
	Script string `json:"script" validate:"required,max=200000"`
	// Tables name the table each statement's result goes to, in order: one per statement.
	// Required.
	Tables []string `json:"tables" validate:"required,min=1,max=100"`
	// SchemaChange, MaxRows and TimeoutSeconds are as in Export Queries to SQL Tables; the
	// timeout bounds each statement on the server.
	SchemaChange   string `json:"schema_change" validate:"oneof=fail add_columns rebuild"`
	MaxRows        int64  `json:"max_rows" validate:"min=1,max=1000000000"`
	TimeoutSeconds int    `json:"timeout_seconds" validate:"min=1,max=86400"`
}

// Statements splits the script.
func (c *SQLScriptConfig) Statements() []string { return sqlout.SplitStatements(c.Script) }

// Validate checks that each statement has a table and the table names.
func (c *SQLScriptConfig) Validate() []valid.FieldError {
	var fs []valid.FieldError
	if n := len(c.Statements()); n != len(c.Tables) {
		fs = append(fs, valid.FieldError{Field: "tables", Message: fmt.Sprintf("the script has %d statements and %d tables are named: name one per statement", n, len(c.Tables))})
	}
	seen := map[string]int{}
	for i, t := range c.Tables {
		if err := sqlout.CheckTableName(t); err != nil {
			fs = append(fs, valid.FieldError{Field: fmt.Sprintf("tables[%d]", i), Message: err.Error()})
		}
		if j, dup := seen[strings.ToLower(t)]; dup {
			fs = append(fs, valid.FieldError{Field: fmt.Sprintf("tables[%d]", i), Message: fmt.Sprintf("tables[%d] is the same table", j)})
		}
		seen[strings.ToLower(t)] = i
	}
	return fs
}

// Redacted: no secrets.
func (c *SQLScriptConfig) Redacted() any { return c }

// KeepSecrets: no secrets.
func (c *SQLScriptConfig) KeepSecrets(Config) {}

// SecretFields: none.
func (c *SQLScriptConfig) SecretFields() []*string { return nil }

package tasktype

import (
	"github.com/tributary-io/tributary/valid"
)

// DashboardService is the Dashboard Integration Service task type.
const DashboardService = "dashboard_service"

// ActivityRefreshDashboard executes a run of the type.
const ActivityRefreshDashboard = "RefreshDashboard"

func init() {
	Register(Type{ConfigSchema: "DashboardConfig", Name: DashboardService, Activity: ActivityRefreshDashboard, Title: "Dashboard Integration Service",
		Description: "Writes the fixed dashboard schema (daily snapshots of findings and occurrences by severity, product and asset; mean time " +
			"to remediate; events by status and progress; assets by criticality and source; run health per task type; a last-updated row) " +
			"into its own target database, for Grafana, Metabase or Superset.",
		New: func() Config { return &DashboardConfig{TimeoutSeconds: 600} }})
}

// DashboardConfig configures the Dashboard Integration Service.
type DashboardConfig struct {
	// Connection names the target database connection, the dashboard database. Required.
	Connection string `json:"connection" validate:"required,max=200"`
	// TimeoutSeconds is the server-side statement timeout of each snapshot query. Optional;
	// defaults to 600.
	TimeoutSeconds int `json:"timeout_seconds" validate:"min=1,max=86400"`
}

// Validate: the tags say everything.
func (c *DashboardConfig) Validate() []valid.FieldError { return nil }

// Redacted: no secrets.
func (c *DashboardConfig) Redacted() any { return c }

// KeepSecrets: no secrets.
func (c *DashboardConfig) KeepSecrets(Config) {}

// SecretFields: none.
func (c *DashboardConfig) SecretFields() []*string { return nil }

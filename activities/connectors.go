package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tributary-io/tributary/connectortype"
	"github.com/tributary-io/tributary/metrics"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
)

// Error types of connector activities, as shown in the Temporal UI.
const (
	// ErrTypeConnectorNotFound: the connector or record was deleted.
	ErrTypeConnectorNotFound = "ConnectorNotFound"
	// ErrTypeVendor prefixes vendor failures: "Vendor.bad_credentials", "Vendor.bad_response"...
	ErrTypeVendor = "Vendor"
)

// Connectors runs the Discover and Sync operations of connectors.
type Connectors struct {
	// Store is the database.
	Store *store.Store
	// Keyring opens the stored vendor passwords.
	Keyring *secrets.Keyring
	// Transport makes vendor HTTP requests. Optional; defaults to http.DefaultTransport.
	Transport http.RoundTripper
	// Metrics counts the vendor requests and waits. Optional.
	Metrics *metrics.Registry
	// Sleep replaces the vendor clients' waits (rate limits, backoff). Optional.
	Sleep func(ctx context.Context, d time.Duration) error
}

// ConnectorInput names a connector operation's run. Credentials are read from Postgres.
type ConnectorInput struct {
	RunID       string
	ConnectorID string
}

// DiscoverOutput is what a Discover found and changed.
type DiscoverOutput struct {
	Counts map[string]int64
}

// RecordInput names one record's reimport within a sync run.
type RecordInput struct {
	RunID       string
	ConnectorID string
	RecordID    string
	// StartedAt is the sync run's start: the last-seen time of findings the vendor gives none.
	StartedAt time.Time
}

// RecordOutput is the outcome of one record's reimport.
type RecordOutput struct {
	TestID   string
	ImportID string
	Counts   map[string]int64
	// Replayed is true when an earlier attempt had already applied this record.
	Replayed bool
	// PhaseMS is how long each phase took, in milliseconds: detections (fetch and stage),
	// definitions, apply.
	PhaseMS map[string]int64 `json:",omitempty"`
	// Notes are what the vendor client skipped or stored incompletely (at most
	// scanner.MaxNotes); NotesTotal counts them all.
	Notes      []string `json:",omitempty"`
	NotesTotal int      `json:",omitempty"`
}

// SyncProgress is the heartbeat of a record's sync.
type SyncProgress struct {
	Record      string
	Phase       string
	Detections  int64
	Definitions int64
}

func parseUUID(what, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s %q is not a UUID", what, s), ErrTypeInvalidInput, nil)
	}
	return id, nil
}

// opened is a connector with its configuration and scanner client.
type opened struct {
	*store.Connector
	cfg *connectortype.Config
	sc  connectortype.Scanner
}

// open loads the connector and opens its scanner client.
func (a *Connectors) open(ctx context.Context, id uuid.UUID) (opened, error) {
	c, err := a.Store.Connectors.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return opened{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("connector %s no longer exists", id), ErrTypeConnectorNotFound, nil)
	}
	if err != nil {
		return opened{}, err
	}
	sc, cfg, err := connectortype.OpenStored(c.ToolType, c.BaseURL, c.Config, a.Keyring.Open,
		connectortype.ClientOptions{Transport: a.Transport, Sleep: a.Sleep, Metrics: a.Metrics})
	if err != nil {
		return opened{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("connector %s: %v", c.Name, err), ErrTypeInvalidConfig, nil)
	}
	return opened{Connector: c, cfg: cfg, sc: sc}, nil
}

// vendorError makes a vendor failure an activity error: unavailable and rate-limited vendors
// are retried, everything else is final.
func vendorError(err error) error {
	var se *scanner.Error
	if !errors.As(err, &se) {
		return err
	}
	typ := ErrTypeVendor + "." + string(se.Kind)
	if se.Retryable() {
		return temporal.NewApplicationError(se.Error(), typ)
	}
	return temporal.NewNonRetryableApplicationError(se.Error(), typ, nil)
}

// DiscoverConnector lists the vendor's products (asset groups, sites) and upserts the
// connector's records in one transaction.
func (a *Connectors) DiscoverConnector(ctx context.Context, in ConnectorInput) (DiscoverOutput, error) {
	runID, err := parseUUID("run ID", in.RunID)
	if err != nil {
		return DiscoverOutput{}, err
	}
	cid, err := parseUUID("connector ID", in.ConnectorID)
	if err != nil {
		return DiscoverOutput{}, err
	}
	c, err := a.open(ctx, cid)
	if err != nil {
		return DiscoverOutput{}, err
	}
	hb := newHeartbeater(ctx, 5*time.Second)
	defer hb.stop()
	var found []scanner.Product
	seen := map[string]bool{}
	err = c.sc.Products(ctx, func(p scanner.Product) error {
		if !seen[p.ID] {
			seen[p.ID] = true
			found = append(found, p)
		}
		hb.set(map[string]any{"phase": "listing", "found": len(found)})
		return nil
	})
	if err != nil {
		return DiscoverOutput{}, vendorError(err)
	}
	counts, err := a.Store.Connectors.ApplyDiscovery(ctx, c.ID, runID, found, time.Now().UTC())
	if err != nil {
		return DiscoverOutput{}, err
	}
	return DiscoverOutput{Counts: map[string]int64{"found": counts.Found, "created": counts.Created, "renamed": counts.Renamed,
		"missing": counts.Missing, "returned": counts.Returned}}, nil
}

// RecordRef names a record in a sync's plan.
type RecordRef struct {
	ID   string
	Name string
}

// MappedRecords returns the connector's mapped records, the work of a sync.
func (a *Connectors) MappedRecords(ctx context.Context, in ConnectorInput) ([]RecordRef, error) {
	cid, err := parseUUID("connector ID", in.ConnectorID)
	if err != nil {
		return nil, err
	}
	if _, err := a.Store.Connectors.Get(ctx, cid); errors.Is(err, store.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("connector %s no longer exists", cid), ErrTypeConnectorNotFound, nil)
	}
	recs, err := a.Store.Connectors.MappedRecords(ctx, cid)
	if err != nil {
		return nil, err
	}
	out := make([]RecordRef, len(recs))
	for i, r := range recs {
		out[i] = RecordRef{ID: r.ID.String(), Name: r.Name}
	}
	return out, nil
}

// SyncRecord reimports one mapped record: it streams the vendor's latest detections into
// staging, fetches the definitions they refer to, and applies the difference to the record's
// findings in one transaction. A failure before the apply leaves the findings as they were.
func (a *Connectors) SyncRecord(ctx context.Context, in RecordInput) (RecordOutput, error) {
	runID, err := parseUUID("run ID", in.RunID)
	if err != nil {
		return RecordOutput{}, err
	}
	cid, err := parseUUID("connector ID", in.ConnectorID)
	if err != nil {
		return RecordOutput{}, err
	}
	rid, err := parseUUID("record ID", in.RecordID)
	if err != nil {
		return RecordOutput{}, err
	}
	// A retried attempt whose predecessor committed the apply reports that import.
	if ti, err := a.Store.Connectors.ImportOf(ctx, runID, rid); err == nil {
		return RecordOutput{TestID: ti.TestID.String(), ImportID: ti.ID.String(), Counts: ti.Counts(), Replayed: true}, nil
	}
	c, err := a.open(ctx, cid)
	if err != nil {
		return RecordOutput{}, err
	}
	rec, err := a.Store.Connectors.GetRecord(ctx, cid, rid)
	if errors.Is(err, store.ErrNotFound) {
		return RecordOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("record %s of connector %s no longer exists", rid, c.Name), ErrTypeConnectorNotFound, nil)
	}
	if err != nil {
		return RecordOutput{}, err
	}
	if rec.State != store.RecordMapped || rec.ProductID == nil {
		return RecordOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("record %q is %s, not mapped: it was changed while the sync ran", rec.Name, rec.State), ErrTypeInvalidInput, nil)
	}
	out, err := a.syncRecord(ctx, c, rec, runID, in.StartedAt)
	status, msg := "succeeded", ""
	if err != nil {
		status, msg = "failed", err.Error()
	}
	if nerr := a.Store.Connectors.NoteRecordSync(ctx, rid, runID, status, msg, time.Now().UTC()); nerr != nil && err == nil {
		return out, nerr
	}
	return out, err
}

func (a *Connectors) syncRecord(ctx context.Context, c opened, rec *store.Record, runID uuid.UUID, startedAt time.Time) (RecordOutput, error) {
	info, _ := connectortype.Lookup(c.ToolType)
	testID, err := a.Store.Connectors.EnsureTest(ctx, *rec.ProductID, c.Connector, info.Title, time.Now().UTC())
	if err != nil {
		return RecordOutput{}, err
	}
	hb := newHeartbeater(ctx, 5*time.Second)
	defer hb.stop()
	prog := SyncProgress{Record: rec.Name, Phase: "detections"}
	var out RecordOutput
	var notes scanner.Notes
	phases := map[string]int64{}
	mark := time.Now()
	lap := func(name string) {
		now := time.Now()
		phases[name] = now.Sub(mark).Milliseconds()
		mark = now
	}
	err = a.Store.WithStaging(ctx, func(st *store.Staging) error {
		err := c.sc.Detections(ctx, rec.VendorID, func(d scanner.Detection) error {
			if err := st.AddDetection(ctx, d); err != nil {
				return err
			}
			if st.Detections%1000 == 0 {
				prog.Detections = st.Detections
				hb.set(prog)
			}
			return nil
		}, &notes)
		if err != nil {
			return vendorError(err)
		}
		prog.Phase, prog.Detections = "definitions", st.Detections
		hb.set(prog)
		if st.Detections == 0 && !c.cfg.AllowEmptyResults {
			// An empty answer is more often a vendor glitch or an emptied asset group than a
			// fully remediated one: refuse to inactivate everything.
			active, err := a.Store.Connectors.CountActive(ctx, testID, rec.ID)
			if err != nil {
				return err
			}
			if active > 0 {
				return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
					"%s returned no findings for %q while %d of its findings are active; nothing was changed "+
						"(set config.allow_empty_results to let an empty scan inactivate them)", c.sc.Vendor(), rec.Name, active),
					ErrTypeRemovalGuard, nil)
			}
		}
		ids, err := st.MissingDefinitions(ctx)
		lap("detections")
		if err != nil {
			return err
		}
		sort.Strings(ids)
		got := map[string]bool{}
		err = c.sc.Definitions(ctx, ids, func(d scanner.Definition) error {
			if got[d.VendorID] {
				return nil
			}
			got[d.VendorID] = true
			prog.Definitions++
			return st.AddDefinition(ctx, d)
		}, &notes)
		if err != nil {
			return vendorError(err)
		}
		prog.Phase = "apply"
		hb.set(prog)
		lap("definitions")
		ti, applied, err := st.Apply(ctx, store.ApplyInput{RunID: runID, RecordID: rec.ID, TestID: testID, StartedAt: startedAt, Now: time.Now().UTC(),
			Assets: &store.AssetScope{Prefix: scanner.AssetKeyPrefix(c.ToolType, c.BaseURL), Source: c.ToolType, SourceType: "connector", SourceID: c.ID}})
		if errors.Is(err, store.ErrMissingDefinition) {
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s: the vendor returned no definition for vulnerabilities it reported (%v)", c.sc.Vendor(), err),
				ErrTypeVendor+"."+string(scanner.KindBadResponse), nil)
		}
		if err != nil {
			return err
		}
		lap("apply")
		out = RecordOutput{TestID: testID.String(), ImportID: ti.ID.String(), Counts: ti.Counts(), Replayed: !applied, PhaseMS: phases,
			Notes: notes.Items, NotesTotal: notes.Total}
		return nil
	})
	if err == nil {
		activity.GetLogger(ctx).Info("record reimported", "record", rec.Name, "connector", c.Name, "counts", out.Counts)
	}
	return out, err
}

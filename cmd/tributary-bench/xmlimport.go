package main

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/internal/nexposesim"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// benchXML measures the Import Vulnerabilities from XML File task with the NeXpose XML Export
// 2.0 preset on generated exports of each size (default 20 and 200 MB): the upload into the
// file store, then the import run in a child process (wall time, peak RSS, peak heap), next
// to the floor, a plain encoding/xml token loop over the same file in a child process of its
// own, in the same run. Peak RSS should stay flat across sizes: the file is streamed.
func benchXML(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("xml", flag.ContinueOnError)
	sizes := fs.String("mb", "20,200", "export sizes in MB, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dbURL, db, closeDB, err := database(ctx, 8)
	if err != nil {
		return err
	}
	defer closeDB()
	st := store.New(db)
	keys, keySpec, err := secrets.NewRandomKeyring("bench")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tributary-bench-xml-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Printf("Import Vulnerabilities from XML File, preset nexpose_xml_2_vulnerabilities, DATABASE %s\n\n", redactDSN(dbURL))
	fmt.Printf("%-58s %10s %10s %10s %8s\n", "", "wall", "peak RSS", "peak heap", "ratio")
	for _, s := range strings.Split(*sizes, ",") {
		mb, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || mb < 1 {
			return fmt.Errorf("-mb: %q is not a size in MB", s)
		}
		path := filepath.Join(dir, fmt.Sprintf("nexpose-%dmb.xml", mb))
		nodes, tests, err := writeNexposeExport(path, int64(mb)<<20)
		if err != nil {
			return err
		}
		fi, _ := os.Stat(path)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		start := time.Now()
		file, _, err := st.Files.Put(ctx, &store.File{Name: filepath.Base(path), CreatedBy: "bench", CreatedAt: time.Now()}, bufio.NewReaderSize(f, 1<<20), 1<<40)
		f.Close()
		if err != nil {
			return err
		}
		up := time.Since(start)
		fmt.Printf("%d MB export (%.1f MiB, %d nodes, %d tests): upload into the file store %s (%.0f MiB/s)\n", mb, float64(fi.Size())/(1<<20), nodes, tests,
			ms(up), float64(fi.Size())/(1<<20)/up.Seconds())
		floor, floorWall, floorRSS, err := runChild(ctx, "xml-tokens", dbURL, keySpec, path)
		if err != nil {
			return err
		}
		fmt.Printf("%-58s %10s %10s %10s\n", fmt.Sprintf("  floor: encoding/xml RawToken loop (%d tokens)", floor.Counts["tokens"]), ms(floorWall), mib(floorRSS), mib(floor.PeakHeap))
		task, err := xmlBenchTask(ctx, st, keys, file.ID)
		if err != nil {
			return err
		}
		res, wall, rss, err := runChild(ctx, "xml-run", dbURL, keySpec, task.ID.String())
		if err != nil {
			return err
		}
		fmt.Printf("%-58s %10s %10s %10s %7.2fx\n", "  import (lookups, records, staging, apply)", ms(wall), mib(rss), mib(res.PeakHeap), float64(wall)/float64(floorWall))
		fmt.Printf("    counts %v, phases %v\n", res.Counts, res.PhaseMS)
	}
	return nil
}

func xmlBenchTask(ctx context.Context, st *store.Store, keys *secrets.Keyring, file uuid.UUID) (*store.Task, error) {
	return storeTask(ctx, st, keys, tasktype.XMLVulnerabilities, map[string]any{"file_id": file, "preset": "nexpose_xml_2_vulnerabilities",
		"asset_source": "bench-" + uuid.NewString()[:8]})
}

// writeNexposeExport writes nexposesim.WriteExport's export of about size bytes to path.
func writeNexposeExport(path string, size int64) (nodes, tests int, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	if nodes, tests, err = nexposesim.WriteExport(w, size); err != nil {
		return 0, 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	return nodes, tests, f.Close()
}

// xmlTokensChild is the floor of benchXML: encoding/xml's RawToken loop over the file.
func xmlTokensChild(_ context.Context, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: tributary-bench xml-tokens FILE OUT.json")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	stop := sampleHeap()
	start := time.Now()
	d := xml.NewDecoder(bufio.NewReaderSize(f, 256<<10))
	var n int64
	for {
		if _, err := d.RawToken(); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		n++
	}
	elapsed := time.Since(start)
	peak, _ := stop()
	b, _ := json.Marshal(childResult{Counts: map[string]int64{"tokens": n}, ActivityNS: elapsed.Nanoseconds(), PeakHeap: int64(peak)})
	return os.WriteFile(args[1], b, 0o600)
}

// xmlRunChild runs one XML import task in this process: the child of benchXML.
func xmlRunChild(ctx context.Context, args []string) error {
	return taskRunChild(ctx, "xml-run", args, func(st *store.Store, keys *secrets.Keyring, _ *store.Task) (any, any) {
		acts := &activities.XMLImports{Store: st, Keyring: keys}
		return acts, acts.ImportXMLFile
	})
}

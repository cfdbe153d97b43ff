// Command tributary-migrate manages the Postgres schema: up, down, status, unlock.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/schema"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasks"
)

const usage = `usage: tributary-migrate up|down|status|unlock
       tributary-migrate token NAME [admin|operator|viewer] [EXPIRES_IN_DAYS]

  up      apply every pending migration (under the migration lock)
  down    roll back the last applied group of migrations
  status  list migrations and whether they are applied
  unlock  release a migration lock left by a crashed run
  token   create an API token (default role admin) and print it once: the bootstrap
          path for the first admin token
  rotate-secrets
          re-seal every stored secret under the active key (TRIBUTARY_SECRET_KEY_ID);
          afterwards the other keys can be removed from TRIBUTARY_SECRET_KEYS

DATABASE_URL names the database.`

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "token" && len(os.Args) != 2) {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "tributary-migrate:", err)
		os.Exit(1)
	}
}

func run(cmd string, args []string) error {
	ctx := context.Background()
	db, err := store.Open(ctx, os.Getenv("DATABASE_URL"), store.OpenOptions{MaxOpenConns: 2})
	if err != nil {
		return err
	}
	defer db.Close()
	switch cmd {
	case "up":
		g, err := schema.Up(ctx, db)
		if err != nil {
			return err
		}
		if g.IsZero() {
			fmt.Println("schema is up to date")
			return nil
		}
		fmt.Printf("applied group %d: %s\n", g.ID, names(g.Migrations.String()))
	case "down":
		g, err := schema.Down(ctx, db)
		if err != nil {
			return err
		}
		if g.IsZero() {
			fmt.Println("nothing to roll back")
			return nil
		}
		fmt.Printf("rolled back group %d: %s\n", g.ID, names(g.Migrations.String()))
	case "status":
		ms, err := schema.Status(ctx, db)
		if err != nil {
			return err
		}
		for _, m := range ms {
			state := "pending"
			if m.IsApplied() {
				state = fmt.Sprintf("applied (group %d, %s)", m.GroupID, m.MigratedAt.Format("2006-01-02 15:04:05"))
			}
			fmt.Printf("%s %-30s %s\n", m.Name, m.Comment, state)
		}
	case "token":
		if len(args) < 1 || len(args) > 3 {
			fmt.Fprintln(os.Stderr, usage)
			os.Exit(2)
		}
		o := auth.CreateOptions{Name: args[0], Role: auth.Admin}
		if len(args) > 1 {
			o.Role = auth.Role(args[1])
		}
		if len(args) > 2 {
			days, err := strconv.Atoi(args[2])
			if err != nil {
				return fmt.Errorf("EXPIRES_IN_DAYS must be a number of days: %q", args[2])
			}
			o.ExpiresInDays = days
		}
		if n, err := schema.Pending(ctx, db); err != nil || n > 0 {
			return fmt.Errorf("the schema is not up to date (run tributary-migrate up first)")
		}
		secret, row, err := auth.NewTokens(store.New(db)).Create(ctx, o, "tributary-migrate")
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "created %s token %q (id %s); it is shown once:\n", row.Role, row.Name, row.ID)
		fmt.Println(secret)
	case "rotate-secrets":
		keys, err := secrets.ParseKeyring(os.Getenv("TRIBUTARY_SECRET_KEYS"), os.Getenv("TRIBUTARY_SECRET_KEY_ID"))
		if err != nil {
			return err
		}
		n, err := tasks.RotateSecrets(ctx, store.New(db), keys)
		if err != nil {
			return fmt.Errorf("rotation failed, nothing was changed: %w", err)
		}
		fmt.Printf("re-sealed the secrets of %d task(s) and database connection(s) under key %q\n", n, keys.ActiveID())
	case "unlock":
		if err := schema.Unlock(ctx, db); err != nil {
			return err
		}
		fmt.Println("migration lock released")
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	return nil
}

func names(s string) string { return strings.TrimSpace(s) }

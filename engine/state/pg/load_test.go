package pg

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/reconcile-dev/reconcile/engine"
)

// TestPostgresSaveRewritesHandWrittenRows: Load takes each row's digest
// from its text, so a row that says what Save would write in another form
// (written by hand) is rewritten in Save's form by the next save, and the
// rows in Save's form are not.
func TestPostgresSaveRewritesHandWrittenRows(t *testing.T) {
	url := testURL(t)
	ws := freshWorkspace(t)
	s := engine.NewState()
	for _, id := range []string{"1", "2", "3"} {
		s.Resources["bonifiq/"+id] = &engine.Entry{Provider: "bonifiq", ID: id, Fields: engine.Fields{{Name: "a", Value: engine.Int(1)}, {Name: "b", Value: engine.String("x")}}}
	}
	if err := openTest(t, url, ws).Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	sql(t, url, `UPDATE reconcile_resources SET fields = '{ "b": "x", "a": 1 }' WHERE workspace = $1 AND address = 'bonifiq/2'`, ws)
	b := openTest(t, url, ws)
	loaded, err := b.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := string(engine.AppendFieldsJSON(nil, loaded.Resources["bonifiq/2"].Fields)); got != `{"a":1,"b":"x"}` {
		t.Fatalf("the hand-written row reads as %s", got)
	}
	if err := b.Save(t.Context(), loaded); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT address, fields FROM reconcile_resources WHERE workspace = $1
		AND xmin::text = (SELECT xmin::text FROM reconcile_workspaces WHERE name = $1) ORDER BY address`, ws)
	if err != nil {
		t.Fatal(err)
	}
	var rewritten []string
	for rows.Next() {
		var a, f string
		if err := rows.Scan(&a, &f); err != nil {
			t.Fatal(err)
		}
		rewritten = append(rewritten, a+" "+f)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(rewritten, ", ") != `bonifiq/2 {"a":1,"b":"x"}` {
		t.Errorf("rows the save wrote: %q; want the hand-written one, in Save's form", rewritten)
	}
}

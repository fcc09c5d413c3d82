// Command genmap writes api/worldmap.txt, the land outline of the status
// page's world map: one SVG path in the page's equirectangular projection
// (720×360, two pixels per degree), simplified to about a pixel, from the
// per-country GeoJSON of the world-countries npm package
// (https://github.com/mledoze/countries, ODbL 1.0).
//
// Usage:
//
//	go run ./internal/genmap -in DIR/package/data -out worldmap.txt
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	in := flag.String("in", "", "the data directory of the world-countries npm package (*.geo.json)")
	out := flag.String("out", "worldmap.txt", "file to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "genmap:", err)
		os.Exit(1)
	}
}

type point struct{ x, y float64 }

// geometry is the part of a GeoJSON feature collection genmap reads.
type geometry struct {
	Features []struct {
		Geometry struct {
			Type        string          `json:"type"`
			Coordinates json.RawMessage `json:"coordinates"`
		} `json:"geometry"`
	} `json:"features"`
}

func run(in, out string) error {
	files, err := filepath.Glob(filepath.Join(in, "*.geo.json"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no *.geo.json in %q", in)
	}
	slices.Sort(files)
	var b strings.Builder
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var g geometry
		if err := json.Unmarshal(raw, &g); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, feat := range g.Features {
			var polygons [][][][2]float64
			switch feat.Geometry.Type {
			case "Polygon":
				var p [][][2]float64
				if err := json.Unmarshal(feat.Geometry.Coordinates, &p); err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				polygons = append(polygons, p)
			case "MultiPolygon":
				if err := json.Unmarshal(feat.Geometry.Coordinates, &polygons); err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
			}
			for _, poly := range polygons {
				if len(poly) == 0 {
					continue
				}
				ring := project(poly[0]) // outer ring only: lakes do not matter here
				ring = simplify(ring, 0.8)
				if len(ring) < 4 || area(ring) < 2 {
					continue
				}
				for i, p := range ring {
					cmd := "L"
					if i == 0 {
						cmd = "M"
					}
					fmt.Fprintf(&b, "%s%.0f %.0f", cmd, p.x, p.y)
				}
				b.WriteString("Z")
			}
		}
	}
	return os.WriteFile(out, []byte(b.String()+"\n"), 0o644)
}

func project(ring [][2]float64) []point {
	out := make([]point, len(ring))
	for i, c := range ring {
		out[i] = point{(c[0] + 180) * 2, (90 - c[1]) * 2}
	}
	return out
}

// simplify is Douglas–Peucker with tolerance eps pixels.
func simplify(pts []point, eps float64) []point {
	if len(pts) < 3 {
		return pts
	}
	first, last := pts[0], pts[len(pts)-1]
	best, index := 0.0, 0
	for i := 1; i < len(pts)-1; i++ {
		if d := distance(pts[i], first, last); d > best {
			best, index = d, i
		}
	}
	if best <= eps {
		return []point{first, last}
	}
	left := simplify(pts[:index+1], eps)
	right := simplify(pts[index:], eps)
	return append(left[:len(left)-1], right...)
}

func distance(p, a, b point) float64 {
	dx, dy := b.x-a.x, b.y-a.y
	if dx == 0 && dy == 0 {
		return math.Hypot(p.x-a.x, p.y-a.y)
	}
	return math.Abs(dy*p.x-dx*p.y+b.x*a.y-b.y*a.x) / math.Hypot(dx, dy)
}

func area(pts []point) float64 {
	s := 0.0
	for i := range pts {
		j := (i + 1) % len(pts)
		s += pts[i].x*pts[j].y - pts[j].x*pts[i].y
	}
	return math.Abs(s) / 2
}

package model

import "math"

// Point is a position on Earth in degrees (WGS 84).
type Point struct {
	Lat, Lon float64
}

// Location is a Point that may be unknown: a cluster declared without
// coordinates, a client GeoIP cannot place. The zero Location is unknown,
// and an unknown Location has no point, so equal meaning is equal value.
type Location struct {
	point Point
	known bool
}

// LocationAt returns the known Location p.
func LocationAt(p Point) Location { return Location{point: p, known: true} }

// Point returns the location's point and whether it is known; the zero
// Point when not.
func (l Location) Point() (Point, bool) { return l.point, l.known }

// Known reports whether the location is known.
func (l Location) Known() bool { return l.known }

// earthRadiusKm is the mean Earth radius used for great-circle distances.
const earthRadiusKm = 6371.0088

// DistanceKm returns the great-circle distance between p and q in kilometres,
// by the haversine formula, which stays accurate for nearby points.
func (p Point) DistanceKm(q Point) float64 {
	lat1, lat2 := radians(p.Lat), radians(q.Lat)
	dLat := lat2 - lat1
	dLon := radians(q.Lon - p.Lon)
	h := sq(math.Sin(dLat/2)) + math.Cos(lat1)*math.Cos(lat2)*sq(math.Sin(dLon/2))
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(h)))
}

// Valid reports whether p lies within the ranges of latitude and longitude.
func (p Point) Valid() bool {
	return p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180 &&
		!math.IsNaN(p.Lat) && !math.IsNaN(p.Lon)
}

func radians(deg float64) float64 { return deg * math.Pi / 180 }
func sq(x float64) float64        { return x * x }

package geo

import "github.com/oschwald/maxminddb-golang/v2/mmdbdata"

// ipLocRecord is the part of an ip-location-db record that Lookup uses; the
// city databases add city, state and postcode fields, which are skipped.
type ipLocRecord struct {
	CountryCode string `maxminddb:"country_code"`
	Latitude    coord  `maxminddb:"latitude"`
	Longitude   coord  `maxminddb:"longitude"`
}

// coord is a latitude or longitude that remembers whether the record had
// one. It decodes itself so that a missing value needs no pointer (and no
// allocation) and so that both float (32-bit) and double encodings are taken.
type coord struct {
	value float64
	ok    bool
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler.
func (c *coord) UnmarshalMaxMindDBCursor(cur mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	v, next, err := cur.ReadFloat()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[coord](err)
	}
	c.value, c.ok = v, true
	return next, nil
}

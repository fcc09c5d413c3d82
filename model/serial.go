package model

// ZoneSerial is what the replicas of a zone share about its SOA serial:
// the serial last given to the zone's static content, and a hash of that
// content. The dns package decides serials from it; a store every replica
// reads (a file for one replica, a ConfigMap for several) keeps one per
// zone, so that the same content gets the same serial everywhere and a
// change makes it grow.
type ZoneSerial struct {
	Serial uint32
	// Hash identifies the static content, serial aside; it is the same in
	// every process and version that loads the same records.
	Hash string
}

// Command imagebuild makes Meridian's container image without a Docker
// engine: one layer over an empty base holding the static binary, a
// non-root user (65532, as distroless's "nonroot") and the CA bundle, with
// the binary as entrypoint. It writes an image tarball that `docker load`,
// `podman load` and `crane push` accept. `make image` runs it; the
// Dockerfile at the repository root builds the same image with Docker.
//
// Usage:
//
//	go run ./internal/imagebuild -binary bin/meridian -out bin/meridian-image.tar [-tag meridian:dev]
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image's user and where the CA bundle comes from.
const (
	nonroot  = "65532"
	caBundle = "/etc/ssl/certs/ca-certificates.crt"
)

func main() {
	binary := flag.String("binary", "bin/meridian", "static meridian binary (CGO_ENABLED=0)")
	out := flag.String("out", "bin/meridian-image.tar", "image tarball to write")
	tag := flag.String("tag", "meridian:dev", "the image's name in the tarball")
	flag.Parse()
	if err := buildImage(*binary, *out, *tag); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func buildImage(binary, out, tag string) error {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(caBundle)
	if err != nil {
		return fmt.Errorf("%w (install Debian's ca-certificates)", err)
	}
	files := []file{
		{name: "etc/", mode: 0o755},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: "home/", mode: 0o755},
		{name: "usr/", mode: 0o755},
		{name: "usr/local/", mode: 0o755},
		{name: "usr/local/bin/", mode: 0o755},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		{name: "etc/meridian/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: 65532},
		{name: "tmp/", mode: 0o1777},
		{name: "usr/local/bin/meridian", mode: 0o755, data: bin},
	}
	layerTar, err := tarOf(files)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil })
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = "amd64", "linux"
	cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()} // reproducible
	cfg.Config.Entrypoint = []string{"/usr/local/bin/meridian"}
	cfg.Config.Cmd = []string{"serve", "-config", "/etc/meridian/meridian.conf", "-log-format", "json"}
	cfg.Config.User = nonroot + ":" + nonroot
	cfg.Config.WorkingDir = "/home/nonroot"
	cfg.Config.Env = []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=" + caBundle}
	cfg.Config.ExposedPorts = map[string]struct{}{"53/udp": {}, "53/tcp": {}, "8080/tcp": {}, "18000/tcp": {}}
	cfg.Config.Labels = map[string]string{"org.opencontainers.image.title": "meridian",
		"org.opencontainers.image.description": "Global traffic manager: GeoDNS and Envoy xDS for many Kubernetes clusters"}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, ref, img)
}

type file struct {
	name string
	mode int64
	uid  int
	data []byte
}

// tarOf writes files into a layer; names ending in / are directories.
func tarOf(files []file) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Size: int64(len(f.data))}
		if f.name[len(f.name)-1] == '/' {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

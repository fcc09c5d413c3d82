// Command targets serves many health-check targets on loopback, in a
// process of its own, so that a benchmark of the prober can count the
// prober's CPU apart from the servers'. It listens on one port of each of
// -addrs addresses (-prefix.0.1 and up, 250 per /24; by default 127.1.0.1
// and up, since Linux routes all of 127.0.0.0/8 to lo without setup;
// bench/health/run.sh's NETNS mode gives a namespace of its own a local
// route for another prefix) for each of -services services, so -services x -addrs
// listeners, and prints one JSON line: the addresses, and each service's
// port. A tcp target accepts and closes; an http target answers every
// request 200, as cheaply as nginx's "return 200". It exits when its
// standard input closes, so that it never outlives the benchmark.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
)

func main() {
	kind := flag.String("kind", "tcp", "tcp (accept and close) or http (answer 200)")
	services := flag.Int("services", 100, "services, each on a port of its own")
	addrs := flag.Int("addrs", 100, "addresses, -prefix.0.1 and up (at most 65,000)")
	prefix := flag.String("prefix", "127.1", "the first two bytes of the addresses, routed locally")
	flag.Parse()

	var out struct {
		Addrs []string `json:"addrs"`
		Ports []int    `json:"ports"`
	}
	for i := range *addrs {
		out.Addrs = append(out.Addrs, fmt.Sprintf("%s.%d.%d", *prefix, i/250, i%250+1))
	}
	for range *services {
		lns, port := listenSamePort(out.Addrs)
		out.Ports = append(out.Ports, port)
		for _, ln := range lns {
			go serve(ln, *kind)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, os.Stdin)
}

// listenSamePort listens on one free port of every address.
func listenSamePort(addrs []string) ([]net.Listener, int) {
	for range 50 {
		first, err := listen(addrs[0] + ":0")
		if err != nil {
			log.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for _, a := range addrs[1:] {
			ln, err := listen(fmt.Sprintf("%s:%d", a, port))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == len(addrs) {
			return lns, port
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	log.Fatal("no port free on every address")
	return nil, 0
}

// listen listens on plain TCP. Go's listeners take MPTCP by default where
// the kernel has it, which costs every plain connection extra work in the
// kernel, in the softirq of the prober's connect on loopback: the servers
// probed in production (Envoy, nginx) listen on plain TCP.
func listen(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	return lc.Listen(context.Background(), "tcp", addr)
}

func serve(ln net.Listener, kind string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		if kind == "tcp" {
			c.Close()
			continue
		}
		go answer(c)
	}
}

var response = []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

func answer(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 1024)
	n := 0
	for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) && n < len(buf) {
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += m
	}
	c.Write(response)
}

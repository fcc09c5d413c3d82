# The same image `make image` builds without Docker: a static binary on an
# empty base, running as the non-root user 65532. Run it with a read-only
# root filesystem; mount the config at /etc/meridian/meridian.conf.
#
#   docker build -t meridian .
#   docker run --read-only -v $PWD/deploy/demo:/etc/meridian:ro meridian
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/meridian ./cmd/meridian \
 && mkdir -p /out/etc/meridian /out/home/nonroot /out/tmp \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /out/etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' > /out/etc/group

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/etc/ /etc/
COPY --from=build --chown=65532:65532 /out/home/nonroot /home/nonroot
COPY --from=build --chmod=1777 /out/tmp /tmp
COPY --from=build /out/meridian /usr/local/bin/meridian
ENV PATH=/usr/local/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /home/nonroot
EXPOSE 53/udp 53/tcp 8080/tcp 18000/tcp
ENTRYPOINT ["/usr/local/bin/meridian"]
CMD ["serve", "-config", "/etc/meridian/meridian.conf", "-log-format", "json"]

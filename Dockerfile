# syntax=docker/dockerfile:1
# tether's image: one binary, every subcommand (`migrate`, `ingest`,
# `worker`, `healthcheck`, ...), run as a non-root user.
#
# Base images are named by tag. For a reproducible build, pin each by digest
# (README, "Known limitations": the digests could not be looked up where
# this file was written):
#   docker build \
#     --build-arg RUST_IMAGE=rust:1.95-bookworm@sha256:<digest> \
#     --build-arg RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:<digest> .
ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src

# Dependencies first, from the manifests and the lock file alone: this layer
# is rebuilt only when they change, and everything after it is offline.
# Each crate gets an empty target so cargo can read its manifest.
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY vendor vendor
COPY bench/Cargo.toml bench/
COPY ingest/Cargo.toml ingest/
COPY ops/Cargo.toml ops/
COPY queue/Cargo.toml queue/
COPY shared/Cargo.toml shared/
COPY stripe/Cargo.toml stripe/
COPY stripe-api/Cargo.toml stripe-api/
COPY worker/Cargo.toml worker/
RUN for crate in bench ingest ops queue shared stripe stripe-api worker; do \
      mkdir -p "$crate/src" && touch "$crate/src/lib.rs"; \
    done \
 && mkdir -p src tests/it \
 && echo 'fn main() {}' > src/main.rs \
 && touch tests/it/main.rs \
 && cargo fetch --locked

COPY . .
RUN cargo build --release --locked --offline --bin tether \
 && cp target/release/tether /tether

# distroless/cc: glibc and libgcc for a Rust binary, CA certificates, no
# shell and no package manager. `tether healthcheck` stands in for curl.
FROM ${RUNTIME_IMAGE}
COPY --from=build /tether /usr/local/bin/tether
# distroless's `nonroot` user, by number so it holds whatever the base says.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/tether"]

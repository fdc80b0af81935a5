FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tether

FROM debian:bookworm-slim
COPY --from=build /src/target/release/tether /usr/local/bin/tether
USER 65534
ENTRYPOINT ["tether"]

# The swarmdns image: one static binary (CGO_ENABLED=0), nothing else. The
# binary is built on the host, so building the image pulls nothing from any
# registry. `make image` packs it in bin/rootfs.tar with the file capability
# cap_net_bind_service: ADD extracts a local tar keeping that xattr (COPY
# does not), so user nobody can bind port 53 even with the host network.
FROM scratch
ADD bin/rootfs.tar /
USER 65534:65534
EXPOSE 53/udp 53/tcp 8053/tcp
ENTRYPOINT ["/swarmdns"]
CMD ["serve"]

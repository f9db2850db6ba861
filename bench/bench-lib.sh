# shell helpers of the REST benchmarks, sourced by rest-bench.sh and
# rest-instructions.sh

# a TCP port on 127.0.0.1 that nothing listens on right now
free_port () {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

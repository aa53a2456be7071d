"""What an operator uses to watch and steer a running process: the control socket
(``control``), Prometheus metrics and probes (``metrics``), structured logs (``logs``), and the
``inspect`` command that reads the socket or the store."""

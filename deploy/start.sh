#!/bin/sh
# The image's command: bring the database's schema up to date, then serve.
#
# set -e: a failed migration stops the container (the platform shows why and restarts it) rather
# than serving on an old schema. Replicas starting at once are safe: on PostgreSQL the migrations
# run under an advisory lock, so each is applied once and the others wait, then find nothing to do.
set -eu

invoicebot migrate

# exec: the server replaces this shell, so the platform's SIGTERM reaches it directly and it drains
# (finishes in-flight requests and jobs) before exiting, instead of the shell dying and leaving it.
exec invoicebot serve

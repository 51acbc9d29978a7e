"""``otel-perf capacity``: the dashboard, a resource's forecast, HPA and KEDA configs
(tables in :mod:`otel_perf.processors.capacity.report`)."""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any

from rich.console import Console

from otel_perf.cli.args import add_command
from otel_perf.cli.http import api_arguments, api_get, api_post, show


def add_parsers(sub: Any) -> None:
    """Add the capacity processor's commands to the ``otel-perf`` subcommands ``sub``."""
    capacity = add_command(
        sub,
        "capacity",
        cmd_capacity,
        "usage, forecasts, seasons, right-sizing and cost per resource (--dashboard, the "
        "default); a resource's forecast; HPA and KEDA configs",
    )
    capacity.add_argument("--dashboard", action="store_true", help="every resource (default)")
    api_arguments(capacity)
    actions = capacity.add_subparsers(dest="action", metavar="ACTION")
    forecast = actions.add_parser("forecast", help="a resource's forecast with its interval")
    forecast.add_argument("resource", help="the resource, as `otel-perf capacity` lists it")
    forecast.add_argument("--horizon", help='how far ahead, e.g. "7d" (default: the window)')
    scaling = actions.add_parser(
        "autoscaling", help="an autoscaling/v2 HPA and a KEDA ScaledObject for a resource"
    )
    scaling.add_argument("resource", help="the resource, as `otel-perf capacity` lists it")
    scaling.add_argument("--target", type=float, help="target utilisation in percent")
    scaling.add_argument("--min-replicas", type=int, help="the fewest replicas")
    scaling.add_argument("--max-replicas", type=int, help="the most replicas")
    scaling.add_argument("--service", help="the service whose workload scales")
    scaling.add_argument("--workload", help="the Deployment's name (default: the service)")
    scaling.add_argument("--namespace", default="default", help="Kubernetes namespace")
    scaling.add_argument("--days", type=int, default=2, help="days of replica schedule")
    scaling.add_argument(
        "--format", choices=["hpa", "keda", "both"], default="both", help="YAML to print"
    )
    for action in (forecast, scaling):
        action.set_defaults(command_parser=action)
        api_arguments(action)


def cmd_capacity(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.processors.capacity.report import (
        print_autoscaling,
        print_dashboard,
        print_forecast,
    )

    if args.action == "forecast":
        query = "?" + urllib.parse.urlencode({"horizon": args.horizon}) if args.horizon else ""
        resource = urllib.parse.quote(args.resource, safe="")
        data = api_get(args, f"/performance/capacity/forecast/{resource}{query}")
        show(args, console, data, print_forecast)
    elif args.action == "autoscaling":
        body: dict[str, Any] = {
            "resource": args.resource,
            "target_utilization": args.target,
            "min_replicas": args.min_replicas,
            "max_replicas": args.max_replicas,
            "service": args.service,
            "workload": args.workload,
            "namespace": args.namespace,
            "days": args.days,
        }
        data = api_post(
            args,
            "/performance/capacity/autoscaling-config",
            {k: v for k, v in body.items() if v is not None},
        )
        if args.output == "json":
            show(args, console, data, print_autoscaling)
        else:
            print_autoscaling(console, data, args.format)
    else:
        show(args, console, api_get(args, "/performance/capacity/dashboard"), print_dashboard)
    return 0

"""What explanations cost, on the deployable configuration (its set-up reused from
:mod:`moderation_lab.bench.deployable`): the ``explanation cost`` phase of ``make bench``.

1. **Per flagged post, per method**, in this process, on the deployable configuration's
   own models and the worker's own explainers (:func:`worker.explain.catalog.catalog_for`):
   exact contributions of the hate/offensive TF-IDF head; word occlusion of the same head
   read through MiniLM (what a head over the text encoder, or any transformer classifier,
   costs: every variant is encoded); open_nsfw's grid occlusion at 4x4 (the default) and
   8x8. Flagged posts come a few at a time, so each method explains groups of
   :data:`GROUP` posts, as the explanation stage batches them; the median ms per post and
   the model passes per post are reported.
2. **End to end at 70% load**: two workers of the deployable configuration, one with
   explanations on (flagged only, the default) and one with them off, on topics of their
   own, fed the same mix of posts in alternating paced rounds (the idle one costs about 1%
   of a core), at 70% of the cold rate. The mix is the bench's tweet pairs with a stated
   share (:data:`FLAG_SHARE`) of their texts replaced by tweets labelled hate or
   offensive in Davidson et al.'s data, spread evenly (:func:`with_flag_share`); the share
   the workers actually flagged is reported beside it. p50/p99 of all posts and of the
   flagged ones, on and off, and the batch loop's own figures (batch compute and queue
   wait from the verdicts' timings): had explaining stalled the loop, posts that were not
   explained would wait longer with explanations on.

Ratios and medians; nothing here asserts a time.

Example::

    figures = asyncio.run(explanation_cost(bench))
    figures["paced"]["ratios"]["p99_all"]     # p99 on / p99 off
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from moderation_lab.bench.data import BenchPost, photo
from moderation_lab.bench.deployable import TINY_DIR, configuration, deployable_overrides, start_deployable
from moderation_lab.bench.e2e import Streams, _wait_ready
from moderation_lab.bench.sizing import stream_posts
from moderation_lab.bench.stream import VerdictWatcher, _quantile, latency_parts, result
from moderation_lab.demo.categories import RUDE_POSTS
from moderation_lab.demo.data import find_data_dir
from moderation_lab.embedded.kafka_io import create_topics
from moderation_lab.embedded.ports import free_port
from moderation_lab.embedded.stack import EmbeddedStack

if TYPE_CHECKING:
    from moderation_lab.bench.run import Bench
    from worker.explain.catalog import Catalog
    from worker.model.moderation import ModerationModel

__all__ = [
    "FLAG_SHARE",
    "GROUP",
    "OFF_TOPICS",
    "explanation_cost",
    "flagged_pool",
    "paced_figures",
    "per_post",
    "stall_verdict",
    "with_flag_share",
]

T = TypeVar("T")

#: Share of posts in the paced mix whose text is a tweet labelled hate or offensive: a
#: platform's flag rate is a few percent; 5% errs on the costly side of that.
FLAG_SHARE = 0.05
#: Flagged posts per explanation batch in the per-method figures (a batch of 8 at a few
#: percent flagged leaves one or two).
GROUP = 2
#: The worker with explanations off reads and writes topics of its own.
OFF_TOPICS = {
    "posts_topic": "off.posts",
    "verdicts_topic": "off.verdicts",
    "flagged_topic": "off.verdicts.flagged",
    "dlq_topic": "off.posts.dlq",
}
ON_TOPICS = {"posts_topic": "posts", "verdicts_topic": "verdicts", "flagged_topic": "verdicts.flagged"}
#: Batch compute (p50) or queue wait (p99) this much longer with explanations on is
#: reported as a stalled loop (the machine's own noise between rounds is below it).
STALL_RATIO = 1.5
#: Corpus offset of these streams: past every range the other phases use.
_OFFSET = 60


def with_flag_share(
    posts: Sequence[BenchPost], flagged: Sequence[str], share: float, first: int = 0
) -> list[BenchPost]:
    """``posts`` with the text of a ``share`` of them (spread evenly: post ``i`` when
    ``floor((i + 1) * share)`` steps up) replaced by texts of ``flagged``, taken in order
    from ``first`` (so streams starting at distinct ``first`` share no text). Images and
    references are kept: a flagged tweet with a photo, like the others."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"a share in [0, 1], not {share}")
    out, used = [], first
    for i, post in enumerate(posts):
        if int((i + 1) * share) > int(i * share) and flagged:
            lap, index = divmod(used, len(flagged))
            text = flagged[index] if not lap else f"{flagged[index]} {lap}"
            out.append(dataclasses.replace(post, text=text))
            used += 1
        else:
            out.append(post)
    return out


def flagged_pool(data_dir: Path | None) -> tuple[list[str], str]:
    """Tweets labelled hate or offensive (Davidson et al., the head's own data: the cost
    of explaining does not depend on whether the head saw the text), and where they came
    from; the demo's written rude posts when the data is not there."""
    path = data_dir / "hate-offensive" / "train.csv" if data_dir else None
    if path is None or not path.exists():
        return list(RUDE_POSTS), "the demo's rude posts"
    with path.open(newline="", encoding="utf-8") as handle:
        texts = [row["tweet"] for row in csv.DictReader(handle) if row["class"] in ("0", "1")]
    return list(dict.fromkeys(texts)), "hate-offensive/train.csv tweets labelled hate or offensive"


def per_post(run: Callable[[Sequence[T]], int], items: Sequence[T], group: int) -> dict[str, float]:
    """Median ms per post over groups of ``group``, and mean model passes per post."""
    times, passes = [], 0
    for start in range(0, len(items), group):
        chunk = items[start : start + group]
        began = time.perf_counter()
        passes += run(chunk)
        times.append((time.perf_counter() - began) * 1000 / len(chunk))
    return {
        "ms_per_post": statistics.median(times) if times else float("nan"),
        "passes_per_post": passes / max(1, len(items)),
        "posts": len(items),
        "groups": len(times),
    }


def paced_figures(
    sent: dict[str, int],
    seen: dict[str, int],
    timings: dict[str, dict[str, float]],
    flagged: set[str],
) -> dict[str, Any]:
    """p50/p99 of all posts, of the flagged and of the others, where the time went, and
    the explanation's own time (``explain_ms``) on the flagged posts."""
    stream = result(sent, seen)
    others = {i: t for i, t in sent.items() if i not in flagged}
    mine = {i: t for i, t in sent.items() if i in flagged}
    explain = [timings[i]["explain_ms"] for i in mine if timings.get(i, {}).get("explain_ms") is not None]
    return {
        "posts": len(sent),
        "flagged": len(mine),
        "flagged_share": len(mine) / max(1, len(sent)),
        "p50_ms": stream.percentile(0.5),
        "p99_ms": stream.percentile(0.99),
        "others_p50_ms": result(others, seen).percentile(0.5) if others else float("nan"),
        "others_p99_ms": result(others, seen).percentile(0.99) if others else float("nan"),
        "flagged_p50_ms": result(mine, seen).percentile(0.5) if mine else float("nan"),
        "flagged_p99_ms": result(mine, seen).percentile(0.99) if mine else float("nan"),
        "parts_ms": latency_parts(sent, seen, timings),
        "explain_ms_p50": _quantile(explain, 0.5) if explain else float("nan"),
        "explain_ms_p99": _quantile(explain, 0.99) if explain else float("nan"),
        "explained": len(explain),
    }


def _ratio(on: float, off: float) -> float:
    return on / off if off > 0 else float("nan")


def stall_verdict(on: dict[str, Any], off: dict[str, Any]) -> dict[str, Any]:
    """On/off ratios of the figures, and whether the batch loop stalled: the batches'
    compute (p50) or the queue wait (p99) at least :data:`STALL_RATIO` times longer with
    explanations on (both come from the verdicts' timings, not from the explanations)."""
    ratios = {
        "p50_all": _ratio(on["p50_ms"], off["p50_ms"]),
        "p99_all": _ratio(on["p99_ms"], off["p99_ms"]),
        "p99_not_flagged": _ratio(on["others_p99_ms"], off["others_p99_ms"]),
        "batch_compute_p50": _ratio(on["parts_ms"]["batch"]["p50"], off["parts_ms"]["batch"]["p50"]),
        "queue_wait_p99": _ratio(on["parts_ms"]["wait"]["p99"], off["parts_ms"]["wait"]["p99"]),
    }
    if "p99_ms_median_of_rounds" in on and "p99_ms_median_of_rounds" in off:
        ratios["p99_median_of_rounds"] = _ratio(on["p99_ms_median_of_rounds"], off["p99_ms_median_of_rounds"])
    # a queue wait of a few ms either way is no stall, whatever the ratio
    waits = (on["parts_ms"]["wait"]["p99"], off["parts_ms"]["wait"]["p99"])
    stalled = ratios["batch_compute_p50"] >= STALL_RATIO or (
        ratios["queue_wait_p99"] >= STALL_RATIO and waits[0] - waits[1] > 50.0
    )
    return {"ratios": ratios, "stall_ratio": STALL_RATIO, "loop_stalled": stalled}


def _load_model(stack: EmbeddedStack, overrides: dict[str, Any]) -> ModerationModel:
    """The deployable configuration's model, loaded in this process as the worker loads it."""
    from worker.config.settings import load_settings
    from worker.model.moderation import ModerationModel

    return ModerationModel.load(load_settings(stack.worker_env(**overrides)))


def method_costs(
    model: ModerationModel, catalog: Catalog, texts: Sequence[str], group: int
) -> dict[str, dict[str, Any]]:
    """Per method, what explaining ``texts`` (and photos) costs per post."""
    from PIL import Image

    from worker.config.views import ExplainConfig
    from worker.explain.catalog import occlusion_source
    from worker.explain.image import explain_images
    from worker.model.types import PostFeatures

    config = ExplainConfig()
    out: dict[str, dict[str, Any]] = {}
    for source in catalog.text:

        def exact(chunk: Sequence[str], s: Any = source) -> int:
            found = s.explain(chunk, s.columns, config.explain_top_k, False)
            return sum(e.passes for per in found for e in per.values())

        out[f"{source.method} ({source.part})"] = per_post(exact, texts, group)
    for part, head, labels in model.category_heads.heads:
        if head.config.inputs != "text":
            continue

        def scores(batch: Sequence[str], h: Any = head) -> Any:
            vectors = model.encode_texts(batch)
            return h.probabilities(
                [PostFeatures(text=v, raw_text=t) for t, v in zip(batch, vectors, strict=True)]
            )

        source = occlusion_source(part, scores, {n: i for i, n in labels.items()}, config)

        def occlude(chunk: Sequence[str], s: Any = source) -> int:
            found = s.explain(chunk, s.columns, config.explain_top_k, False)
            return sum(e.passes for per in found for e in per.values())

        out[f"occlusion ({part} read through the text encoder)"] = per_post(occlude, texts, group)
    import io

    images = [Image.open(io.BytesIO(photo(seed))).convert("RGB") for seed in range(8)]
    for image_source in catalog.image:
        for grid in sorted({config.explain_image_grid, 8}):

            def occlude_image(chunk: Sequence[Image.Image], s: Any = image_source, g: int = grid) -> int:
                maps = explain_images(chunk, s.scores, s.columns, g, config.explain_max_batch)
                return sum(h.passes for per in maps for h in per.values())

            figures = per_post(occlude_image, images, group)
            out[f"grid {grid}x{grid} ({image_source.part}, per image)"] = figures
    return out


async def explanation_cost(bench: Bench) -> dict[str, Any]:
    """Per-method cost per flagged post, and p50/p99 at 70% load with explanations on and off."""
    args, say = bench.args, bench.progress.console.print
    workdir = Path(".run") / time.strftime("bench-explain-%Y%m%d-%H%M%S")
    pool, pool_source = flagged_pool(find_data_dir())
    out: dict[str, Any] = {"flag_mix": {"share": args.explain_flag_share, "flagged_texts": pool_source}}
    with EmbeddedStack(workdir, TINY_DIR) as stack:
        topics = ["posts", "verdicts", "verdicts.flagged", "posts.dlq", *OFF_TOPICS.values()]
        await create_topics(stack.broker.url, topics, 4)
        overrides = deployable_overrides(bench, stack, workdir)
        out["configuration"] = configuration(overrides)
        # The methods first, in this process, while no worker has started.
        from worker.config.views import ExplainConfig
        from worker.explain.catalog import catalog_for

        model = _load_model(stack, overrides)
        catalog = catalog_for(model, ExplainConfig())
        texts = pool[: args.explain_method_posts]
        with bench.progress.bar("explanation methods", 1) as advance:
            out["methods"] = await asyncio.to_thread(method_costs, model, catalog, texts, GROUP)
            advance("done")
        out["methods_group"] = GROUP
        del model, catalog
        ports = {"on": free_port(), "off": free_port()}
        workers = {
            "on": start_deployable(
                bench,
                stack,
                "bench-explain-on",
                ports["on"],
                overrides,
                explain_categories="flagged",
                **ON_TOPICS,
            ),
            "off": start_deployable(
                bench,
                stack,
                "bench-explain-off",
                ports["off"],
                overrides,
                explain_categories="off",
                group_id="bench-explain-off",
                **OFF_TOPICS,
            ),
        }
        try:
            for port in ports.values():
                await _wait_ready(port)
            out["paced"] = await _paced(bench, stack, pool, say)
        finally:
            for worker in workers.values():
                worker.stop(timeout_s=60)
    return out


async def _paced(
    bench: Bench, stack: EmbeddedStack, pool: list[str], say: Callable[..., None]
) -> dict[str, Any]:
    args, corpus = bench.args, bench.corpus
    share, start = args.explain_flag_share, _OFFSET * args.posts
    url = stack.broker.url
    async with (
        VerdictWatcher(url, "verdicts") as on_v,
        VerdictWatcher(url, "verdicts.flagged") as on_f,
        VerdictWatcher(url, OFF_TOPICS["verdicts_topic"]) as off_v,
        VerdictWatcher(url, OFF_TOPICS["flagged_topic"]) as off_f,
    ):
        streams = {"on": Streams(bench, stack, on_v), "off": Streams(bench, stack, off_v, topic="off.posts")}
        flagged_seen = {"on": on_f, "off": off_f}
        used = 0

        def mix(n: int, prefix: str) -> list[BenchPost]:
            nonlocal start, used
            posts = with_flag_share(corpus.posts(n, prefix, with_images=True, start=start), pool, share, used)
            start, used = start + n, used + int(n * share) + 1
            return posts

        # First batches of every shape (and the first explanations), not timed.
        warm = {side: await s.send(mix(32, f"xwarm-{side}")) for side, s in streams.items()}
        n = stream_posts(result(warm["off"], off_v.seen).posts_per_s, args.stream_seconds, highest=args.posts)
        cold = {side: await s.rate(mix(n, f"xcold-{side}")) for side, s in streams.items()}
        rate = 0.7 * (bench.results.get("deployable", {}).get("posts_per_s") or cold["off"])
        count = max(20, int(rate * args.explain_soak_seconds))
        rounds = args.explain_rounds
        say(f"      explanations: {rounds} rounds each of {count} posts at {rate:.2f} posts/s, on then off")
        sent: dict[str, dict[str, int]] = {"on": {}, "off": {}}
        by_round: dict[str, list[list[float]]] = {"on": [], "off": []}
        with bench.progress.bar("paced rounds, on and off", 2 * rounds) as advance:
            for k in range(rounds):
                for side in ("on", "off") if k % 2 == 0 else ("off", "on"):
                    got = await streams[side].send(mix(count, f"xpaced{k}-{side}"), rate=rate)
                    sent[side].update(got)
                    stream = result(got, streams[side].watcher.seen)
                    by_round[side].append([stream.percentile(0.5), stream.percentile(0.99)])
                    advance(f"{side}: p99 {result(got, streams[side].watcher.seen).percentile(0.99):.0f} ms")
        await asyncio.sleep(2)  # the flagged topic's last records
        figures = {
            side: paced_figures(
                sent[side],
                streams[side].watcher.seen,
                streams[side].watcher.timings,
                set(flagged_seen[side].seen) & set(sent[side]),
            )
            for side in ("on", "off")
        }
    for side in ("on", "off"):
        # one round caught in a burst of the machine's other work moves a pooled p99:
        # each round's own, and their median, say whether it did
        figures[side]["rounds_p50_p99_ms"] = by_round[side]
        figures[side]["p99_ms_median_of_rounds"] = statistics.median(p99 for _, p99 in by_round[side])
    return {
        "posts_per_stream": n,
        "cold_posts_per_s": cold,
        "cold_ratio_on_off": _ratio(cold["on"], cold["off"]),
        "paced_rate_posts_per_s": rate,
        "rate_from": "deployable configuration phase"
        if "deployable" in bench.results
        else "cold stream, explanations off",
        "rounds": rounds,
        "posts_per_round": count,
        **figures,
        **stall_verdict(figures["on"], figures["off"]),
    }


def print_explanations(x: dict[str, Any]) -> None:
    """Per-method cost, and the paced runs with explanations on beside off."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    methods = Table(title=f"explanation cost per flagged post (groups of {x['methods_group']})")
    for column in ("method", "ms per post (median)", "passes per post"):
        methods.add_column(column, justify="left" if column == "method" else "right")
    for name, m in x["methods"].items():
        methods.add_row(name, f"{m['ms_per_post']:.1f}", f"{m['passes_per_post']:.1f}")
    console.print(methods)
    p = x["paced"]
    title = (
        f"{p['paced_rate_posts_per_s']:.2f} posts/s (70% load), {x['flag_mix']['share']:.0%} flagged texts, "
        f"{p['rounds']} rounds each; loop stalled: {'yes' if p['loop_stalled'] else 'no'}"
    )
    table = Table(title=title)
    for column in ("figure", "explanations on", "off", "on / off"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    on, off, ratios = p["on"], p["off"], p["ratios"]
    rows = [
        (
            "posts (flagged share)",
            f"{on['posts']} ({on['flagged_share']:.1%})",
            f"{off['posts']} ({off['flagged_share']:.1%})",
            "",
        ),
        (
            "cold posts/s",
            f"{p['cold_posts_per_s']['on']:.2f}",
            f"{p['cold_posts_per_s']['off']:.2f}",
            f"{p['cold_ratio_on_off']:.2f}",
        ),
        ("p50 ms, all", f"{on['p50_ms']:.0f}", f"{off['p50_ms']:.0f}", f"{ratios['p50_all']:.2f}"),
        ("p99 ms, all", f"{on['p99_ms']:.0f}", f"{off['p99_ms']:.0f}", f"{ratios['p99_all']:.2f}"),
        (
            "p99 ms, median of the rounds' own",
            f"{on['p99_ms_median_of_rounds']:.0f}",
            f"{off['p99_ms_median_of_rounds']:.0f}",
            f"{ratios['p99_median_of_rounds']:.2f}",
        ),
        (
            "p99 ms, not flagged",
            f"{on['others_p99_ms']:.0f}",
            f"{off['others_p99_ms']:.0f}",
            f"{ratios['p99_not_flagged']:.2f}",
        ),
        (
            "p50 / p99 ms, flagged",
            f"{on['flagged_p50_ms']:.0f} / {on['flagged_p99_ms']:.0f}",
            f"{off['flagged_p50_ms']:.0f} / {off['flagged_p99_ms']:.0f}",
            "",
        ),
        (
            "batch compute p50 ms",
            f"{on['parts_ms']['batch']['p50']:.0f}",
            f"{off['parts_ms']['batch']['p50']:.0f}",
            f"{ratios['batch_compute_p50']:.2f}",
        ),
        (
            "queue wait p99 ms",
            f"{on['parts_ms']['wait']['p99']:.0f}",
            f"{off['parts_ms']['wait']['p99']:.0f}",
            f"{ratios['queue_wait_p99']:.2f}",
        ),
        (
            "explain_ms p50 / p99 (flagged)",
            f"{on['explain_ms_p50']:.0f} / {on['explain_ms_p99']:.0f}",
            "",
            "",
        ),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)

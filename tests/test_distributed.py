"""Work shared across ranks (robustune.distributed): two real gloo processes on the CPU."""

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from robustune import RobustClassifier
from robustune.distributed import gather_lists, gather_tensors, rank_and_world, shard
from robustune.knn import attach_datastore
from robustune.modeling import ModelSettings

TEXTS = [f"the film was {w}" for w in ("good", "bad", "great", "dull", "fun", "awful", "moving")]  # 7: uneven shards


def test_shards_cover_the_range_in_order():
    for n in (0, 1, 7, 10):
        for world in (1, 2, 3):
            covered = [i for r in range(world) for i in range(n)[shard(n, r, world)]]
            assert covered == list(range(n))


def test_single_process_is_the_identity():
    x = torch.arange(6).view(3, 2)
    assert rank_and_world() == (0, 1)
    assert gather_tensors(x) is x and gather_lists([1, 2]) == [1, 2]


def _worker(rank: int, init_file: str, encoder: str, expected: torch.Tensor) -> None:
    """One rank; an assertion failing here fails the test (start_processes re-raises it)."""
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        assert rank_and_world() == (rank, 2)
        rows = torch.full((rank + 1, 2), float(rank))  # rank 0: 1 row, rank 1: 2 rows
        assert gather_tensors(rows).tolist() == [[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]
        assert gather_lists([f"r{rank}"] * (rank + 1)) == ["r0", "r1", "r1"]
        model = RobustClassifier.from_encoder(encoder, ModelSettings(label_names=["negative", "positive"]), seed=0)
        store = attach_datastore(model, TEXTS, [i % 2 for i in range(len(TEXTS))])
        assert torch.allclose(store.features, expected, atol=1e-6)  # same store as one process builds
    finally:
        dist.destroy_process_group()


def test_two_ranks_gather_in_rank_order_and_share_the_datastore(tiny_encoder, tmp_path):
    model = RobustClassifier.from_encoder(tiny_encoder, ModelSettings(label_names=["negative", "positive"]), seed=0)
    expected = attach_datastore(model, TEXTS, [i % 2 for i in range(len(TEXTS))]).features
    mp.start_processes(_worker, args=(str(tmp_path / "init"), tiny_encoder, expected), nprocs=2,
                       start_method="spawn")

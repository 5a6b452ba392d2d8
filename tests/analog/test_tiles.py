import pytest
import torch

from analora.analog.tiles import TileGeometry
from analora.hardware.tiling import split_sizes


@pytest.mark.parametrize(
    ("size", "max_size", "expected"),
    [
        (384, 512, (384,)),
        (1536, 512, (512, 512, 512)),
        (1025, 512, (342, 342, 341)),
        (513, 512, (257, 256)),
    ],
)
def test_split_sizes_follow_aihwkit(size: int, max_size: int, expected: tuple) -> None:
    assert split_sizes(size, max_size) == expected


@pytest.mark.parametrize(("out_f", "in_f"), [(7, 5), (600, 1025), (40, 1536)])
def test_pack_round_trips(out_f: int, in_f: int) -> None:
    g = TileGeometry.for_layer(in_f, out_f, 512, 512)
    w = torch.randn(out_f, in_f)
    assert torch.equal(g.unpack_weight(g.pack_weight(w)), w)
    x = torch.randn(4, in_f)
    xp = g.pack_input(x)
    assert xp.shape == (4, g.n_in, g.chunk)
    assert torch.equal(g.unpack_input(xp), x)
    # Packed matmul summed over chunks equals the plain product.
    y = torch.einsum("nic,ioc->no", xp, g.pack_weight(w))
    assert torch.allclose(y, x @ w.T, atol=1e-4)
    assert len(g.blocks) == g.n_tiles

"""One DDP rank for tests/test_train.py: train briefly, dump the weights.

    python -m torch.distributed.run --nproc_per_node 2 tests/ddp_worker.py DATA OUT
"""

import os
import sys

import torch

from alexnet.model import AlexNet
from alexnet.train import TrainConfig, train

if __name__ == "__main__":
    data, out = sys.argv[1], sys.argv[2]
    cfg = TrainConfig(dataset="folder", data_dir=data, out=out, epochs=2, batch_size=8, lr=0.01,
                      init="kaiming", widths="8,16,16,16,16,32,32", threads=1, schedule="constant")
    net = train(cfg)
    assert isinstance(net, torch.nn.parallel.DistributedDataParallel), type(net)
    model: AlexNet = net.module
    rank = int(os.environ["RANK"])
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()},
               os.path.join(out, f"rank{rank}.pt"))

"""ZFNet- and AlexNet-paper analyses: functions of (model, images, ...) that
return tensors or small dataclasses. None of them draws, changes the model's
mode or weights, or writes files, except ``scan_layer``/``top9``,
``reference_features``/``nearest_neighbours`` and ``visualise`` when given an explicit ``cache_dir``.
Each also takes torchvision's own ``AlexNet`` module (see ``takes_any_alexnet``).
"""

from ._layers import Box, check_channel, check_layer, feature_layers, num_channels, receptive_field
from .activations import ChannelSummary, channel_summary, feature_maps, layer_outputs
from .attribution import (Attribution, attribute_all, deconvnet, gradcam, guided_backprop,
                          integrated_gradients, saliency)
from .deconv import Projection, project
from .grid import ActivationGrid, activation_grid, tower_channels
from .featvis import FeatureVis, Settings as FeatVisSettings, visualise
from .evolution import UnitEvolution, evolution, load_snapshots, with_features
from .filters import (TowerColour, colour_specificity, conv1_grids, kernel_grid, tower_colour,
                      tower_summary)
from .top9 import LayerScan, TopActivation, scan_layer, top9
from .invariance import InvarianceCurve, default_amounts, invariance, invariance_all, transform_images
from .neighbours import Neighbours, nearest, nearest_neighbours, reference_features
from .occlusion import OcclusionResult, occlusion

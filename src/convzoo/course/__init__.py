"""The tools a course expects beside training (fastai's names, convzoo's networks and data).

- :func:`lr_find`: the learning-rate range test (Smith 2017; fastai's ``Learner.lr_find``), its
  plot and a suggested rate.
- :func:`collect_predictions`, :func:`top_losses`, :func:`most_confused`,
  :func:`plot_top_losses`: the images a trained network gets most wrong and the class pairs it
  mixes up (fastai's ``ClassificationInterpretation``).
- :func:`show_batch`: a grid of training inputs as the network sees them after augmentation.
- :func:`plot_confusion_matrix`: the confusion matrix ``convzoo evaluate`` draws.

Figures use matplotlib's object API (``matplotlib.figure.Figure``), never a global backend, and
are written through :mod:`convzoo.io`'s atomic writer.
"""

from convzoo.course.figures import denormalize, plot_confusion_matrix, save_figure
from convzoo.course.lr_find import LRFindResult, lr_find, plot_lr_find, steepest, valley
from convzoo.course.show_batch import sample_batch, show_batch
from convzoo.course.top_losses import (
    Predictions,
    collect_predictions,
    most_confused,
    plot_top_losses,
    top_losses,
)

__all__ = [
    "LRFindResult",
    "Predictions",
    "collect_predictions",
    "denormalize",
    "lr_find",
    "most_confused",
    "plot_confusion_matrix",
    "plot_lr_find",
    "plot_top_losses",
    "sample_batch",
    "save_figure",
    "show_batch",
    "steepest",
    "top_losses",
    "valley",
]

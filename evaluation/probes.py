"""A linear probe of learned features: the test error of a linear SVM trained on them (the
multi-grid features task, tasks/multigrid.py, compares a run's descriptors with untrained
copies and raw pixels this way). Model-free: it takes feature arrays.
"""
import numpy as np


def svm_test_error(train_x, train_y, test_x, test_y, seed=0, costs=(1e-3, 1e-2)):
  """Test error (%) of a linear SVM (scikit-learn's LinearSVC, one-vs-rest, on standardised
  features) whose C is chosen by 3-fold cross-validation on the training images only; and
  the C chosen. The two costs bracket the best C of every feature set measured here
  (docs/recipes.md); 200 coordinate-descent passes at tolerance 1e-3 keep a 4000-image fit
  under a minute."""
  import warnings  # pylint: disable=g-import-not-at-top
  from sklearn import model_selection  # pylint: disable=g-import-not-at-top
  from sklearn import pipeline  # pylint: disable=g-import-not-at-top
  from sklearn import preprocessing  # pylint: disable=g-import-not-at-top
  from sklearn import svm  # pylint: disable=g-import-not-at-top
  from sklearn.exceptions import ConvergenceWarning  # pylint: disable=g-import-not-at-top
  model = pipeline.make_pipeline(
      preprocessing.StandardScaler(),
      svm.LinearSVC(dual=True, max_iter=200, tol=1e-3, random_state=seed))
  counts = np.bincount(train_y)
  # Stratified folds when every class present has 3 images; plain folds for tiny label sets.
  folds = (model_selection.StratifiedKFold(3, shuffle=True, random_state=seed)
           if counts[counts > 0].min() >= 3 else
           model_selection.KFold(3, shuffle=True, random_state=seed))
  search = model_selection.GridSearchCV(model, {'linearsvc__C': list(costs)}, n_jobs=2,
                                        cv=folds)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', ConvergenceWarning)
    search.fit(train_x, train_y)
  error = 100.0 * (1.0 - search.score(test_x, test_y))
  return float(error), float(search.best_params_['linearsvc__C'])


from .feature_scatter import FeatureScatter

__all__ = ['FeatureScatter']

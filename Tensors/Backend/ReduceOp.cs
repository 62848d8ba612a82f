namespace Sparkle.Tensors.Backend;

public enum ReduceOp { Sum, Mean, Var, Max, Min }

public enum ArgReduceOp { ArgMax, ArgMin }

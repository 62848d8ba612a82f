using System.Numerics;
using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu.Optim;

/// <summary><see cref="IBackend.AdamWStep"/> on contiguous CPU tensors: one pass, in parallel over chunks. The operations
/// of SeamOptim.AdamWStep per element, in its order, constants rounded to T: the same bits.</summary>
internal static class AdamWCpu<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private struct Body : IOptimBody<T>
    {
        public T[] P, G, M, V;
        public int Po, Go, Mo, Vo;
        public bool Decay;
        public T DecayFactor, B1, OneMinusB1, B2, OneMinusB2, SqrtBc2, Eps, NegLrOverBc1;

        public readonly void Run<TV, TO>(int i) where TV : struct where TO : IOptimVec<T, TV>
        {
            var p = TO.Load(P, Po + i);
            if (Decay) p = TO.Mul(p, TO.Splat(DecayFactor));
            var g = TO.Load(G, Go + i);
            var v = TO.Add(TO.Mul(TO.Load(V, Vo + i), TO.Splat(B2)), TO.Mul(TO.Mul(g, g), TO.Splat(OneMinusB2)));
            var m = TO.Add(TO.Mul(TO.Load(M, Mo + i), TO.Splat(B1)), TO.Mul(g, TO.Splat(OneMinusB1)));
            TO.Store(v, V, Vo + i);
            TO.Store(m, M, Mo + i);
            var denom = TO.Add(TO.Div(TO.Sqrt(v), TO.Splat(SqrtBc2)), TO.Splat(Eps));
            TO.Store(TO.Add(p, TO.Mul(TO.Div(m, denom), TO.Splat(NegLrOverBc1))), P, Po + i);
        }
    }

    private static T C(double x) => T.CreateSaturating(x);

    public static void Run(AdamSlot slot, in AdamWStepParams p)
    {
        var (param, g, m, v) = slot;
        var body = new Body
        {
            P = CpuBackend.Data<T>(param), G = CpuBackend.Data<T>(g), M = CpuBackend.Data<T>(m), V = CpuBackend.Data<T>(v),
            Po = param.Offset, Go = g.Offset, Mo = m.Offset, Vo = v.Offset,
            Decay = p.WeightDecay != 0, DecayFactor = C(1 - p.Lr * p.WeightDecay),
            B1 = C(p.Beta1), OneMinusB1 = C(1 - p.Beta1), B2 = C(p.Beta2), OneMinusB2 = C(1 - p.Beta2),
            SqrtBc2 = C(Math.Sqrt(p.Bc2)), Eps = C(p.Eps), NegLrOverBc1 = C(-p.Lr / p.Bc1),
        };
        OptimLoop.Chunked<T, Body>(body, param.NumElements);
    }
}

using System.Numerics;
using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu.Optim;

/// <summary><see cref="IBackend.SgdStep"/> on contiguous CPU tensors: one pass, in parallel over chunks, no temporaries.
/// The operations of SeamOptim.SgdStep per element, in its order (d·1 is d exactly, so the undamped buffer update needs
/// no case of its own), constants rounded to T: the same bits.</summary>
internal static class SgdCpu<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private struct Body : IOptimBody<T>
    {
        public T[] P, G, B;
        public int Po, Go, Bo;
        public bool Decay, Momentum, First, Nesterov;
        public T Wd, Mom, OneMinusDamp, NegLr;

        public readonly void Run<TV, TO>(int i) where TV : struct where TO : IOptimVec<T, TV>
        {
            var p = TO.Load(P, Po + i);
            var d = TO.Load(G, Go + i);
            if (Decay) d = TO.Add(TO.Mul(p, TO.Splat(Wd)), d);
            if (Momentum)
            {
                var buf = First ? d : TO.Add(TO.Mul(TO.Load(B, Bo + i), TO.Splat(Mom)), TO.Mul(d, TO.Splat(OneMinusDamp)));
                TO.Store(buf, B, Bo + i);
                d = Nesterov ? TO.Add(d, TO.Mul(buf, TO.Splat(Mom))) : buf;
            }
            TO.Store(TO.Add(p, TO.Mul(d, TO.Splat(NegLr))), P, Po + i);
        }
    }

    private static T C(double x) => T.CreateSaturating(x);

    public static void Run(Tensor param, Tensor grad, Tensor? buf, in SgdStepParams p)
    {
        var body = new Body
        {
            P = CpuBackend.Data<T>(param), G = CpuBackend.Data<T>(grad), B = buf is null ? [] : CpuBackend.Data<T>(buf),
            Po = param.Offset, Go = grad.Offset, Bo = buf?.Offset ?? 0,
            Decay = p.WeightDecay != 0, Momentum = p.Momentum != 0, First = p.FirstStep, Nesterov = p.Nesterov,
            Wd = C(p.WeightDecay), Mom = C(p.Momentum), OneMinusDamp = C(1 - p.Dampening), NegLr = C(-p.Lr),
        };
        OptimLoop.Chunked<T, Body>(body, param.NumElements);
    }
}

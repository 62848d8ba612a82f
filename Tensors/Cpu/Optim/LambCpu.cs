using System.Buffers;
using System.Numerics;
using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu.Optim;

/// <summary>
/// <see cref="IBackend.LambStep"/> on contiguous CPU tensors, in at most two passes over (tensor, chunk) work items:
/// pass 1 clips the gradient, updates m and v and either applies the update (no trust ratio) or keeps it in a chunk-sized
/// buffer long enough to take the chunk's Σp² and Σu²; pass 2 (trust ratio) recomputes the update from the new m, v and
/// the unchanged p (the same operations, so the same bits) and applies it scaled by the tensor's trust ratio. No
/// parameter-sized work buffer. Every element sees the operations of the old composition (SeamOptim.LambStep) in the same
/// order with the constants rounded to T, and the norms add chunk partials in Tensor.Sum's order: bit-identical to it.
/// </summary>
internal static class LambCpu<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int MomentsApply = 0, MomentsKeep = 1, Apply = 2;

    private struct Body : IOptimBody<T>
    {
        public int Mode;
        public T[] P, G, M, V, U;
        public int Po, Go, Mo, Vo, Uo;
        public bool Clipped, Decay;
        public T Clip, B1, B2, OneMinusB2, Coef, SqrtBc2, Eps, Bc1, Wd, NegLr, Trust;

        public readonly void Run<TV, TO>(int i) where TV : struct where TO : IOptimVec<T, TV>
        {
            TV m, v;
            var p = TO.Load(P, Po + i);
            if (Mode == Apply)
            {
                m = TO.Load(M, Mo + i);
                v = TO.Load(V, Vo + i);
            }
            else
            {
                var g = TO.Load(G, Go + i);
                if (Clipped) { g = TO.Mul(g, TO.Splat(Clip)); TO.Store(g, G, Go + i); }
                v = TO.Add(TO.Mul(TO.Load(V, Vo + i), TO.Splat(B2)), TO.Mul(TO.Mul(g, g), TO.Splat(OneMinusB2)));
                m = TO.Add(TO.Mul(TO.Load(M, Mo + i), TO.Splat(B1)), TO.Mul(g, TO.Splat(Coef)));
                TO.Store(v, V, Vo + i);
                TO.Store(m, M, Mo + i);
            }
            var denom = TO.Add(TO.Div(TO.Sqrt(v), TO.Splat(SqrtBc2)), TO.Splat(Eps));
            var u = TO.Div(TO.Div(m, denom), TO.Splat(Bc1));
            if (Decay) u = TO.Add(u, TO.Mul(p, TO.Splat(Wd)));
            switch (Mode)
            {
                case MomentsKeep: TO.Store(u, U, Uo + i); break;
                case Apply: TO.Store(TO.Add(p, TO.Mul(TO.Mul(u, TO.Splat(Trust)), TO.Splat(NegLr))), P, Po + i); break;
                default: TO.Store(TO.Add(p, TO.Mul(u, TO.Splat(NegLr))), P, Po + i); break;
            }
        }
    }

    private static T C(double x) => T.CreateSaturating(x);

    public static void Run(IReadOnlyList<AdamSlot> slots, in LambStepParams p, Tensor? gradNorm)
    {
        var proto = new Body
        {
            B1 = C(p.Beta1), B2 = C(p.Beta2), OneMinusB2 = C(1 - p.Beta2), Coef = C(p.GradCoef), SqrtBc2 = C(Math.Sqrt(p.Bc2)),
            Eps = C(p.Eps), Bc1 = C(p.Bc1), Wd = C(p.WeightDecay), NegLr = C(-p.Lr), Decay = p.WeightDecay != 0,
        };
        if (gradNorm is not null)
        {
            // 1 / max(norm / max_norm, 1) as the 0-d tensor ops computed it (Maximum propagates NaN)
            T q = CpuBackend.Data<T>(gradNorm)[gradNorm.Offset] / C(p.MaxGradNorm);
            proto.Clip = T.One / (T.IsNaN(q) ? q : T.Max(q, T.One));
            proto.Clipped = true;
        }
        var lengths = slots.Select(s => s.Param.NumElements).ToArray();
        var items = OptimLoop.Items(lengths);
        bool trust = p.UsesTrust;
        var wParts = trust ? new T[items.Length] : [];
        var uParts = trust ? new T[items.Length] : [];
        var bodies = new Body[slots.Count];
        for (int t = 0; t < slots.Count; t++)
        {
            var (param, g, m, v) = slots[t];
            var b = proto;
            (b.P, b.G, b.M, b.V) = (CpuBackend.Data<T>(param), CpuBackend.Data<T>(g), CpuBackend.Data<T>(m), CpuBackend.Data<T>(v));
            (b.Po, b.Go, b.Mo, b.Vo) = (param.Offset, g.Offset, m.Offset, v.Offset);
            b.Mode = trust ? MomentsKeep : MomentsApply;
            bodies[t] = b;
        }
        IntraOpPool.For(items.Length, k =>
        {
            var (t, s, e) = items[k];
            var body = bodies[t];
            T[]? buffer = null;
            if (trust)
            {
                buffer = ArrayPool<T>.Shared.Rent(OptimLoop.Chunk);
                body.U = buffer;
                body.Uo = -s;
            }
            OptimLoop.Run<T, Body>(ref body, s, e);
            if (buffer is not null)
            {
                wParts[k] = SquareSum.Of(body.P, body.Po + s, body.Po + e);
                uParts[k] = SquareSum.Of(buffer, 0, e - s);
                ArrayPool<T>.Shared.Return(buffer);
            }
        });
        if (!trust) return;

        var wSums = SquareSum.Fold(items, wParts, slots.Count);
        var uSums = SquareSum.Fold(items, uParts, slots.Count);
        for (int t = 0; t < slots.Count; t++)
        {
            T w = T.Sqrt(wSums[t]), u = T.Sqrt(uSums[t]);
            T ratio = w > T.Zero ? (u > T.Zero ? w / u : T.One) : T.One;
            if (p.TrustClip) ratio = T.IsNaN(ratio) ? ratio : T.Min(ratio, T.One);
            bodies[t].Trust = ratio;
            bodies[t].Mode = Apply;
        }
        IntraOpPool.For(items.Length, k =>
        {
            var (t, s, e) = items[k];
            var body = bodies[t];
            OptimLoop.Run<T, Body>(ref body, s, e);
        });
    }
}

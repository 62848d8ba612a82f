using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// The blocked GEMM loops (GotoBLAS/BLIS order) for one micro-kernel:
/// <code>
/// for jc in N by NC:                       B panel  KC x NC  -> L3, shared by all threads
///   for pc in K by KC:  pack B(pc, jc)     (cut into chunks, packed in parallel)
///     for ic in M by MC:  pack A(ic, pc)   A block  MC x KC  -> L2, one per thread      } parallel work
///       for jr in NC by NR:                B micro-panel KC x NR -> L1                    } items
///         for ir in MC by MR: micro-kernel C tile MR x NR in registers
/// </code>
/// Threading without per-block barriers: each (jc, pc) pair is a phase of tasks — its B pack chunks, then its
/// work items (MC block x slice of NR panels). Threads claim tasks from one counter in that global order and
/// wait only for what a task needs: a work item for its phase's B panel and for the same item of the
/// previous phase (same C tile, previous k block); a B pack for the items of two phases back (B is
/// double-buffered). A task only ever waits for tasks claimed before it, so nothing deadlocks, and a thread
/// the OS wakes late simply joins in late instead of stalling a barrier (one fork/join per GEMM call).
/// The k blocking depends on K alone, so every C element is summed in the same order whatever the thread
/// count: results are bit-identical for 1 and N threads.
/// One instance per calling thread holds the per-call state the tasks read (no allocation per call).
/// </summary>
internal sealed class GemmDriver<T, TK> where T : unmanaged where TK : IMicroKernel<T>
{
    [ThreadStatic] private static GemmDriver<T, TK>? _forThread;
    public static GemmDriver<T, TK> ForThisThread => _forThread ??= new();

    private readonly Action<int> _work;
    private StridedMatrix<T> _a, _b;
    private T[] _c = [];
    private int _cOffset, _ldc, _m, _n, _k;
    private bool _accumulate;
    // Blocking of this call.
    private int _kBlocks, _kcStep, _ncStep, _mTiles, _mBlocks, _aBlockRows;
    private int _nParts, _panelsPerPart, _packChunks, _panelsPerPack, _items, _phases;
    private PackBuffer<T> _b0 = null!, _b1 = null!;
    // Task scheduling state.
    private int _nextTask;
    private int[] _packDone = [], _itemsDone = [], _itemPhaseDone = [];

    private GemmDriver() { _work = _ => Work(); }

    /// <summary>C[m x n] (+)= A[m x k] · B[k x n], with m, n, k &gt; 0.</summary>
    public void Run(int m, int n, int k, in StridedMatrix<T> a, in StridedMatrix<T> b, T[] c, int cOffset, int ldc, bool accumulate, int threads)
    {
        int mr = TK.MR, nr = TK.NR;
        _a = a; _b = b; _c = c; _cOffset = cOffset; _ldc = ldc; _m = m; _n = n; _k = k; _accumulate = accumulate;

        // Equal k blocks (no thin last block); depends on k only, never on threads (determinism).
        _kBlocks = (k + GemmBlocking.KC - 1) / GemmBlocking.KC;
        _kcStep = (k + _kBlocks - 1) / _kBlocks;
        _ncStep = Math.Min(TK.NC, RoundUp(n, nr));
        int jBlocks = (n + _ncStep - 1) / _ncStep;
        _phases = jBlocks * _kBlocks;

        // M is cut into blocks of whole MR tiles, as equal as possible; with several threads the block
        // count is a multiple of the thread count so every thread gets the same share.
        _mTiles = (m + mr - 1) / mr;
        _mBlocks = (m + TK.MC - 1) / TK.MC;
        if (threads > 1) _mBlocks = Math.Min(_mTiles, RoundUp(_mBlocks, threads));
        _aBlockRows = (_mTiles + _mBlocks - 1) / _mBlocks * mr;

        // Too few M blocks to feed every thread: also split the NR panels of B between items.
        int panels = _ncStep / nr;
        _nParts = threads > 1 && _mBlocks < 2 * threads ? Math.Min(panels, (2 * threads + _mBlocks - 1) / _mBlocks) : 1;
        _panelsPerPart = (panels + _nParts - 1) / _nParts;
        _nParts = (panels + _panelsPerPart - 1) / _panelsPerPart;
        _items = _mBlocks * _nParts;
        _packChunks = threads > 1 ? Math.Min(panels, 2 * threads) : 1;
        _panelsPerPack = (panels + _packChunks - 1) / _packChunks;
        _packChunks = (panels + _panelsPerPack - 1) / _panelsPerPack;

        _b0 = PackBuffers<T>.B;
        _b0.Get(_kcStep * _ncStep);
        if (_phases > 1) { _b1 = PackBuffers<T>.B2; _b1.Get(_kcStep * _ncStep); }
        if (_packDone.Length < _phases) { _packDone = new int[_phases]; _itemsDone = new int[_phases]; }
        if (_itemPhaseDone.Length < _items) _itemPhaseDone = new int[_items];
        Array.Clear(_packDone, 0, _phases);
        Array.Clear(_itemsDone, 0, _phases);
        _itemPhaseDone.AsSpan(0, _items).Fill(-1);
        _nextTask = 0;
        try
        {
            if (threads > 1) IntraOpPool.For(threads, _work);
            else Work();
        }
        finally
        {
            _a = _b = default; _c = []; // do not keep the caller's arrays alive
        }
    }

    /// <summary>Claims and runs tasks until none are left. Task t belongs to phase t / (packChunks + items);
    /// within a phase the B pack chunks come first.</summary>
    // Hot loops are compiled fully optimized at once: under tiering they would run as unoptimized
    // tier-0 code for the first few dozen calls, which is most of a short benchmark or first training steps.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Work()
    {
        int perPhase = _packChunks + _items, total = _phases * perPhase;
        int t;
        while ((t = Interlocked.Increment(ref _nextTask) - 1) < total)
        {
            int phase = t / perPhase, u = t % perPhase;
            if (u < _packChunks)
            {
                if (phase >= 2) WaitFor(ref _itemsDone[phase - 2], _items); // its B buffer is free again
                try { PackBChunk(phase, u); }
                finally { Interlocked.Increment(ref _packDone[phase]); }
            }
            else
            {
                int item = u - _packChunks;
                WaitFor(ref _packDone[phase], _packChunks);
                if (phase >= 1) WaitFor(ref _itemPhaseDone[item], phase - 1); // same C tiles, previous k block
                try { MacroItem(phase, item); }
                finally
                {
                    Volatile.Write(ref _itemPhaseDone[item], phase);
                    Interlocked.Increment(ref _itemsDone[phase]);
                }
            }
        }
    }

    private static void WaitFor(ref int counter, int target)
    {
        if (Volatile.Read(ref counter) >= target) return;
        var spin = new SpinWait();
        while (Volatile.Read(ref counter) < target) spin.SpinOnce(sleep1Threshold: -1);
    }

    /// <summary>The (jc, pc) block of a phase and whether its products add to C.</summary>
    private (int Jc, int Nc, int Pc, int Kc, bool Add) Block(int phase)
    {
        int jb = phase / _kBlocks, kb = phase % _kBlocks;
        int jc = jb * _ncStep, pc = kb * _kcStep;
        return (jc, Math.Min(_ncStep, _n - jc), pc, Math.Min(_kcStep, _k - pc), _accumulate || kb > 0);
    }

    private ref T BPanel(int phase) => ref ((phase & 1) == 0 ? _b0 : _b1).Origin;

    private void PackBChunk(int phase, int chunk)
    {
        var (jc, nc, pc, kc, _) = Block(phase);
        int bPanels = (nc + TK.NR - 1) / TK.NR;
        int p0 = chunk * _panelsPerPack, p1 = Math.Min(bPanels, p0 + _panelsPerPack);
        if (p0 < p1) Packing<T, TK>.PackB(_b.At(pc, jc), kc, nc, p0, p1, ref BPanel(phase));
    }

    /// <summary>One work item: pack an MC block of A into this thread's buffer, then sweep it against a
    /// slice of the packed B panel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void MacroItem(int phase, int item)
    {
        int mr = TK.MR, nr = TK.NR;
        var (jc, nc, pc, kc, add) = Block(phase);
        int mb = item / _nParts, part = item % _nParts;
        int i0 = (int)((long)mb * _mTiles / _mBlocks) * mr;
        int mc = Math.Min(_m, (int)((long)(mb + 1) * _mTiles / _mBlocks) * mr) - i0;
        int bPanels = (nc + nr - 1) / nr;
        int p0 = part * _panelsPerPart, p1 = Math.Min(bPanels, p0 + _panelsPerPart);
        if (mc <= 0 || p0 >= p1) return;

        ref T aPack = ref PackBuffers<T>.A.Get(_aBlockRows * kc);
        Packing<T, TK>.PackA(_a.At(i0, pc), mc, kc, ref aPack);
        ref T bPack = ref BPanel(phase);
        ref T cBlock = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_c), _cOffset + (nint)i0 * _ldc + jc);
        nint ldc = _ldc;

        for (int jp = p0; jp < p1; jp++)
        {
            int j = jp * nr, nrEff = Math.Min(nr, nc - j);
            ref T bPanel = ref Unsafe.Add(ref bPack, (nint)j * kc);
            for (int i = 0; i < mc; i += mr)
            {
                int mrEff = Math.Min(mr, mc - i);
                ref T aPanel = ref Unsafe.Add(ref aPack, (nint)i * kc);
                ref T cTile = ref Unsafe.Add(ref cBlock, i * ldc + j);
                if (mrEff == mr && nrEff == nr) TK.Run(kc, ref aPanel, ref bPanel, ref cTile, ldc, add);
                else EdgeTile(kc, ref aPanel, ref bPanel, ref cTile, ldc, mrEff, nrEff, add);
            }
        }
    }

    /// <summary>A partial tile at the right or bottom edge: the kernel writes the full padded tile to a
    /// scratch tile, and only the valid mr x nr part is stored (or added) into C.</summary>
    private static void EdgeTile(int kc, ref T aPanel, ref T bPanel, ref T c, nint ldc, int mr, int nr, bool add)
    {
        int fullNr = TK.NR;
        ref T tile = ref PackBuffers<T>.Tile.Get(TK.MR * fullNr);
        TK.Run(kc, ref aPanel, ref bPanel, ref tile, fullNr, add: false);
        for (int r = 0; r < mr; r++)
        {
            ref T cRow = ref Unsafe.Add(ref c, r * ldc);
            ref T tRow = ref Unsafe.Add(ref tile, r * fullNr);
            if (add) for (int j = 0; j < nr; j++) Unsafe.Add(ref cRow, j) = ScalarOps.Add(Unsafe.Add(ref cRow, j), Unsafe.Add(ref tRow, j));
            else for (int j = 0; j < nr; j++) Unsafe.Add(ref cRow, j) = Unsafe.Add(ref tRow, j);
        }
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;
}

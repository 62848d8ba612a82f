"""Fits the erf/erfc polynomials in ErfFloat.cs (float64 erf is Numerics/ErrorFunction.cs, a table + Taylor form) (pure Python, no dependencies).
Reference: erf by its everywhere-positive series 2/sqrt(pi) e^{-x^2} sum 2^n x^{2n+1}/(2n+1)!!, erfcx by its continued
fraction for x >= 2; both in 60-digit decimal arithmetic. Each polynomial interpolates at Chebyshev nodes; the script
prints the worst relative error after rounding the coefficients to the target precision.
Run: PREC=60 python3 erf_coefficients.py"""
from decimal import Decimal as D, getcontext
import math, struct, sys
getcontext().prec = int(__import__("os").environ.get("PREC","90"))
PI = D('3.14159265358979323846264338327950288419716939937510582097494459230781640628620899863')
SQPI = PI.sqrt()
def dexp(x):
    return x.exp()
def erf(x):
    x = D(x)
    if x == 0: return D(0)
    x2 = x*x
    term = x; s = term; n = 0
    while True:
        term = term * 2 * x2 / (2*n+3); n += 1
        s += term
        if term < s * D('1e-80'): break
    return 2/SQPI * dexp(-x2) * s
def erfc(x): return 1 - erf(x)
def erfcx(x): x = D(x); return dexp(x*x) * erfc(x)

def solve(A, b):
    n = len(b)
    M = [row[:] + [b[i]] for i, row in enumerate(A)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(M[r][c]))
        M[c], M[p] = M[p], M[c]
        for r in range(n):
            if r != c:
                f = M[r][c] / M[c][c]
                for k in range(c, n+1): M[r][k] -= f * M[c][k]
    return [M[i][n] / M[i][i] for i in range(n)]

def fit(f, a, b, deg):
    """interpolate f on [a,b] at Chebyshev nodes; returns monomial coeffs in s=(x-c)/h, s in [-1,1]"""
    a = D(a); b = D(b); c = (a+b)/2; h = (b-a)/2
    nodes = [D(math.cos(math.pi*(k+0.5)/(deg+1))) for k in range(deg+1)]
    A = [[s**j for j in range(deg+1)] for s in nodes]
    y = [f(c + h*s) for s in nodes]
    return solve(A, y), c, h

def rnd(v, single):
    if single: return D(struct.unpack('f', struct.pack('f', float(v)))[0])
    return D(float(v))

def horner(co, s):
    r = D(0)
    for cc in reversed(co): r = r*s + cc
    return r

def erfcx_cf(x, terms=400):
    # erfcx(x) = 1/sqrt(pi) * 1/(x + (1/2)/(x + (2/2)/(x + (3/2)/(x + ...))))
    x = D(x)
    t = x
    for k in range(terms, 0, -1):
        t = x + D(k)/2 / t
    return 1/(SQPI * t)
from math import comb
import sys
def regionA(single, deg):
    T = D(1)
    def P(t):
        if t == 0: return 2/SQPI
        r = t.sqrt(); return erf(r)/r
    co, c, h = fit(P, 0, T, deg)
    mono = [D(0)]*(deg+1)
    for j, cj in enumerate(co):
        for k in range(j+1):
            mono[k] += cj * D(comb(j, k)) * (-c)**(j-k) / h**j
    return [rnd(m, single) for m in mono]
def R(x):
    x = D(x)
    return erfcx_cf(x) if x >= 2 else erfcx(x)
def piece(single, a, b, deg, var):
    a = D(a); b = D(b)
    if var == 'x': f = R; lo, hi = a, b
    else: f = lambda u: R(1/u); lo, hi = 1/b, 1/a
    co, c, h = fit(f, lo, hi, deg)
    cr = [rnd(m, single) for m in co]; cc = rnd(c, single); hh = rnd(1/h, single)
    worst = 0
    for i in range(201):
        v = lo + (hi-lo)*i/200
        e = f(v)
        worst = max(worst, abs(horner(cr, (v-cc)*hh) - e)/e)
    print(f"// piece [{a},{b}] {var} deg {deg}: rel err {float(worst):.2g}", file=sys.stderr)
    return (a, b, var, cc, hh, cr)
# sanity: series vs CF at 2.5, 3
for x in ['2','2.5','3']:
    print(x, float((erfcx(D(x)) - erfcx_cf(D(x)))/erfcx(D(x))), file=sys.stderr)
def fmt(v, single): 
    s = repr(float(v))
    return s + ('f' if single else '')
out = []
A_f = regionA(True, 5); A_d = regionA(False, 12)
pf = [piece(True, 0.5, 2, 10, 'x'), piece(True, 2, 10, 8, 'u')]
pd = [piece(False, 0.5, 1, 14, 'x'), piece(False, 1, 1.5, 14, 'x'), piece(False, 1.5, 2.25, 14, 'x'), piece(False, 2.25, 3.25, 12, 'u'),
      piece(False, 3.25, 4.5, 12, 'u'), piece(False, 4.5, 6.5, 12, 'u'), piece(False, 6.5, 28, 14, 'u')]
print("A_f = [" + ", ".join(fmt(v, True) for v in A_f) + "]")
print("A_d = [" + ", ".join(fmt(v, False) for v in A_d) + "]")
for p in pf + pd:
    single = p in pf
    print(f"piece {p[0]} {p[1]} {p[2]} c={fmt(p[3], single)} invh={fmt(p[4], single)} [" + ", ".join(fmt(v, single) for v in p[5]) + "]")
